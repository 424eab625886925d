package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

type showFlags struct {
	store  storeFlag
	remote remoteFlags // --server: a run on the server (remote.go)
}

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
	f.remote.register(cmd.Flags())
	return cmd
}

func showRun(cmd *cobra.Command, id string, f *showFlags) error {
	if f.remote.active() {
		return remoteShow(cmd, id, f)
	}
	st, run, err := f.store.openRun(cmd.Context(), id)
	if err != nil {
		return err
	}
	defer st.Close()
	trs, err := st.TaskRuns(cmd.Context(), run.ID)
	if err != nil {
		return err
	}
	if trs, err = withNotStarted(cmd.Context(), st, run.ID, trs); err != nil {
		return err
	}
	subs, err := loadSubRuns(cmd.Context(), st, run.ID, 0)
	if err != nil {
		return err
	}
	return printRun(cmd.OutOrStdout(), run, trs, subs)
}

// subRuns are the child flow runs of a run's subflows, by the subflow's
// task run, each with its task runs and its own child runs.
type subRuns map[string]subRun

type subRun struct {
	run  store.Run
	trs  []store.TaskRun
	subs subRuns
}

func loadSubRuns(ctx context.Context, st *store.Store, runID string, depth int) (subRuns, error) {
	kids, err := st.ChildRuns(ctx, runID)
	if err != nil || len(kids) == 0 || depth >= maxNesting {
		return nil, err
	}
	subs := make(subRuns, len(kids))
	for _, k := range kids {
		sr := subRun{run: k}
		if sr.trs, err = st.TaskRuns(ctx, k.ID); err != nil {
			return nil, err
		}
		if sr.trs, err = withNotStarted(ctx, st, k.ID, sr.trs); err != nil {
			return nil, err
		}
		if sr.subs, err = loadSubRuns(ctx, st, k.ID, depth+1); err != nil {
			return nil, err
		}
		subs[k.ParentTaskRun] = sr
	}
	return subs, nil
}

// printRun prints a run and its task runs, each subflow's followed by
// those of its child flow run, named under it ("report/fetch"), in large
// writes: the table writer writes each cell on its own (a run of 100,000
// task runs made 1.1 million write calls).
func printRun(w io.Writer, run store.Run, trs []store.TaskRun, subs subRuns) error {
	out := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(out, "Run %s of flow '%s' (%s): %s\n", run.ID, output.Printable(run.Flow), output.Printable(run.File), run.State)
	if run.Message != "" {
		fmt.Fprintf(out, "  %s\n", output.Printable(firstLine(run.Message)))
	}
	if run.ResumedFrom != "" {
		fmt.Fprintf(out, "  Resumed from run %s.\n", run.ResumedFrom)
	}
	switch {
	case run.Parent != "" && run.Server != nil:
		fmt.Fprintf(out, "  Made by task run %s of run %s (run_deployment).\n", output.Printable(run.ParentTaskRun), run.Parent)
	case run.Parent != "":
		fmt.Fprintf(out, "  Child flow run of subflow %s in run %s.\n", output.Printable(run.ParentTaskRun), run.Parent)
	}
	if s := run.Scheduled; s != nil {
		late := ""
		if s.Late {
			late = fmt.Sprintf("; Late: started %s after it", run.StartedAt.Sub(s.At).Round(time.Millisecond))
		}
		fmt.Fprintf(out, "  Scheduled for %s (schedule %s)%s.\n", s.At.UTC().Format(time.RFC3339Nano), s.ScheduleID, late)
	}
	if sv := run.Server; sv != nil {
		fmt.Fprintf(out, "  Deployment %s, pool %s, bundle %s", sv.Deployment, sv.Pool, shortHash(sv.Bundle))
		if sv.Worker != "" {
			fmt.Fprintf(out, ", worker %s", sv.Worker)
		}
		fmt.Fprintln(out, ".")
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK RUN\tSTATE\tATTEMPTS\tDURATION\tMESSAGE")
	taskRows(tw, "", trs, subs)
	if err := tw.Flush(); err != nil {
		return err
	}
	return out.Flush()
}

// taskRows writes a row per task run, its name after prefix; a subflow's
// row names its child flow run, whose task runs follow it.
func taskRows(tw io.Writer, prefix string, trs []store.TaskRun, subs subRuns) {
	for _, tr := range trs {
		name := prefix + output.Cell(tr.Name)
		msg := output.Cell(firstLine(tr.Message))
		sr, ok := subs[tr.Name]
		if ok && tr.Message == "" {
			msg = "child flow run " + runner.ShortID(sr.run.ID) + " of flow " + output.Cell(sr.run.Flow)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", name, tr.State, tr.Attempts, taskDuration(tr), msg)
		if ok {
			taskRows(tw, name+"/", sr.trs, sr.subs)
		}
	}
}

// withNotStarted adds to trs, as Pending with the message "not started",
// the task runs of the run's graph that have no record: those a run that
// crashed (or is still going on) never started. A cancelled run has
// records for them (Cancelled); values assembled inline (const nodes)
// never start. A run recorded without its graph adds nothing.
func withNotStarted(ctx context.Context, st *store.Store, runID string, trs []store.TaskRun) ([]store.TaskRun, error) {
	dag, err := st.RunDAG(ctx, runID)
	if errors.Is(err, store.ErrNoDAG) {
		return trs, nil
	}
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(trs))
	for _, tr := range trs {
		seen[tr.Name] = true
		if tr.MapIndex >= 0 {
			seen[tr.Task] = true // a mapped task whose own record is not there yet
		}
	}
	for _, n := range dag {
		if seen[n.Name] || n.Kind == "const" {
			continue
		}
		trs = append(trs, store.TaskRun{Name: n.Name, Task: n.Task, MapIndex: -1, State: runtime.Pending,
			Message: "not started", Kind: n.Kind})
	}
	return trs, nil
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
