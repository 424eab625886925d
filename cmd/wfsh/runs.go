package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/store"
)

type runsFlags struct {
	store  storeFlag
	remote remoteFlags // --server: the server's runs (remote.go)
	flow   string
	state  string
	limit  int
	json   bool
}

func newRunsCmd() *cobra.Command {
	var f runsFlags
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the recorded runs, newest first",
		Example: `  wfsh runs
  wfsh runs --flow etl --state failed --limit 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return listRuns(cmd, &f)
		},
	}
	fl := cmd.Flags()
	f.store.register(fl)
	fl.StringVar(&f.flow, "flow", "", "only the runs of this flow")
	fl.StringVar(&f.state, "state", "", "only the runs that ended in this state (e.g. failed)")
	fl.IntVar(&f.limit, "limit", 20, "at most this many runs (0: all)")
	fl.BoolVar(&f.json, "json", false, "print the runs as JSON, one object per line")
	f.remote.register(fl)
	return cmd
}

func listRuns(cmd *cobra.Command, f *runsFlags) error {
	if _, err := store.ParseState(f.state); f.state != "" && err != nil {
		return badInput(fmt.Errorf("--state: %w", err))
	}
	if f.limit < 0 {
		return badInput(fmt.Errorf("--limit %d: want the number of runs to list, or 0 for all", f.limit))
	}
	var runs []store.Run
	if f.remote.active() {
		var err error
		if runs, err = remoteRuns(cmd.Context(), &f.remote, f.flow, f.state, f.limit); err != nil {
			return err
		}
	} else {
		st, err := f.store.open()
		if err != nil {
			return err
		}
		defer st.Close()
		if runs, err = st.ListRuns(cmd.Context(), store.RunFilter{Flow: f.flow, State: f.state, Limit: f.limit}); err != nil {
			return err
		}
	}
	if f.json {
		return jsonLines(cmd.OutOrStdout(), runs)
	}
	return runsTable(cmd.OutOrStdout(), runs, time.Now())
}

func runsTable(out io.Writer, runs []store.Run, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	// Runs made by wfsh serve add a column: their scheduled time, and
	// Late when they started more than late_after past it.
	scheduled := slices.ContainsFunc(runs, func(r store.Run) bool { return r.Scheduled != nil })
	head := "RUN\tFLOW\tSTATE\tSTARTED\tDURATION"
	if scheduled {
		head += "\tSCHEDULED"
	}
	fmt.Fprintln(tw, head)
	for _, r := range runs {
		started, took := "-", "-"
		if !r.StartedAt.IsZero() {
			started, took = r.StartedAt.Format("2006-01-02 15:04:05"), duration(r.Duration(now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", runner.ShortID(r.ID), output.Cell(r.Flow), r.State, started, took)
		if scheduled {
			fmt.Fprintf(tw, "\t%s", scheduledCell(r.Scheduled))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// scheduledCell is a run's scheduled time in UTC, "-" for a run not
// made by a schedule.
func scheduledCell(s *store.Scheduled) string {
	if s == nil {
		return "-"
	}
	c := s.At.UTC().Format("2006-01-02 15:04:05Z")
	if s.Late {
		c += " Late"
	}
	return c
}

// duration rounds d for a table: milliseconds under a minute, seconds above.
func duration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// jsonLines prints each item as one JSON object per line (`--json` of
// wfsh runs and wfsh cache ls).
func jsonLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}
