package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
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
	// noSubflows leaves child flow runs out; else each is listed under
	// its parent (or, with --flow or --state, as a run of its own).
	noSubflows bool
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
	fl.BoolVar(&f.noSubflows, "no-subflows", false, "leave out the child flow runs of subflows (listed under their parent run otherwise)")
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
		if runs, err = localRuns(cmd.Context(), st, f); err != nil {
			return err
		}
	}
	if f.json {
		return jsonLines(cmd.OutOrStdout(), runs)
	}
	return runsTable(cmd.OutOrStdout(), runs, time.Now())
}

// localRuns lists the store's runs for f. Unfiltered, the limit counts
// top-level runs, each followed by its child flow runs (and theirs), as
// Prefect's UI nests subflow runs under their parent; filtered by flow or
// state, a child run is listed where it matches, as any run.
func localRuns(ctx context.Context, st *store.Store, f *runsFlags) ([]store.Run, error) {
	filter := store.RunFilter{Flow: f.flow, State: f.state, Limit: f.limit, TopLevel: f.noSubflows}
	nested := !f.noSubflows && f.flow == "" && f.state == ""
	filter.TopLevel = filter.TopLevel || nested
	runs, err := st.ListRuns(ctx, filter)
	if err != nil || !nested {
		return runs, err
	}
	var out []store.Run
	var add func(r store.Run, depth int) error
	add = func(r store.Run, depth int) error {
		out = append(out, r)
		if depth >= maxNesting {
			return nil
		}
		kids, err := st.ChildRuns(ctx, r.ID)
		for _, k := range kids {
			if err == nil {
				err = add(k, depth+1)
			}
		}
		return err
	}
	for _, r := range runs {
		if err := add(r, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxNesting bounds how deep subflow runs are listed under their parent.
const maxNesting = 32

func runsTable(out io.Writer, runs []store.Run, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	depth := map[string]int{} // of the runs listed, by id: a child's is its parent's + 1
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", runner.ShortID(r.ID), flowCell(r, depth), r.State, started, took)
		if scheduled {
			fmt.Fprintf(tw, "\t%s", scheduledCell(r.Scheduled))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// flowCell is a run's flow; a child flow run's is indented under its
// parent when that is listed, and names its subflow's task run in the
// parent: "  └ report (report-2[0])", or "report (of 3f2a1b2c/report)".
func flowCell(r store.Run, depth map[string]int) string {
	if r.Parent == "" {
		depth[r.ID] = 0
		return output.Cell(r.Flow)
	}
	d, listed := depth[r.Parent]
	if !listed {
		return output.Cell(r.Flow) + " (of " + runner.ShortID(r.Parent) + "/" + output.Cell(r.ParentTaskRun) + ")"
	}
	depth[r.ID] = d + 1
	return strings.Repeat("  ", d+1) + "└ " + output.Cell(r.Flow) + " (" + output.Cell(r.ParentTaskRun) + ")"
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
