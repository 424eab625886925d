package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/store"
)

type showFlags struct{ store storeFlag }

func newShowCmd() *cobra.Command {
	var f showFlags
	cmd := &cobra.Command{
		Use:     "show RUN",
		Short:   "Show the task runs of a recorded run (RUN: its id or a unique prefix)",
		Example: `  wfsh show 3f2a`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showRun(cmd, args[0], &f)
		},
	}
	f.store.register(cmd.Flags())
	return cmd
}

func showRun(cmd *cobra.Command, id string, f *showFlags) error {
	st, run, err := f.store.openRun(cmd.Context(), id)
	if err != nil {
		return err
	}
	defer st.Close()
	trs, err := st.TaskRuns(cmd.Context(), run.ID)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Run %s of flow '%s' (%s): %s\n", run.ID, output.Printable(run.Flow), output.Printable(run.File), run.State)
	if run.Message != "" {
		fmt.Fprintf(out, "  %s\n", output.Printable(firstLine(run.Message)))
	}
	if run.ResumedFrom != "" {
		fmt.Fprintf(out, "  Resumed from run %s.\n", run.ResumedFrom)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK RUN\tSTATE\tATTEMPTS\tDURATION\tMESSAGE")
	for _, tr := range trs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", output.Cell(tr.Name), tr.State, tr.Attempts, taskDuration(tr), output.Cell(firstLine(tr.Message)))
	}
	return tw.Flush()
}

func taskDuration(tr store.TaskRun) string {
	if tr.StartedAt.IsZero() || tr.FinishedAt.IsZero() {
		return "-"
	}
	return duration(tr.FinishedAt.Sub(tr.StartedAt))
}

// firstLine cuts a message to its first line, and to 100 characters; an
// empty one is "-".
func firstLine(s string) string {
	if s == "" {
		return "-"
	}
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 100 {
		s, cut = string(r[:100]), true
	}
	if cut {
		s += " ..."
	}
	return s
}
