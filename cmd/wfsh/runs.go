package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/store"
)

// storeFlag is the --store flag of the commands that read or write the
// run store.
type storeFlag struct{ path string }

func (s *storeFlag) register(fl *pflag.FlagSet) {
	fl.StringVar(&s.path, "store", "", "the run store (default $WFSH_HOME/wfsh.db, else ~/.wfsh/wfsh.db)")
}

// where is the store's path: --store, else the default.
func (s *storeFlag) where() (string, error) {
	if s.path != "" {
		return s.path, nil
	}
	path, err := store.DefaultPath()
	if err != nil {
		return "", storeErr(err)
	}
	return path, nil
}

// open opens the run store, creating it if need be.
func (s *storeFlag) open() (*store.Store, error) {
	path, err := s.where()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, storeErr(err)
	}
	return st, nil
}

// openRun opens the store and finds the run named by id or a unique prefix
// of one. The caller closes the store.
func (s *storeFlag) openRun(ctx context.Context, id string) (*store.Store, store.Run, error) {
	st, err := s.open()
	if err != nil {
		return nil, store.Run{}, err
	}
	run, err := st.GetRun(ctx, id)
	if err != nil {
		st.Close()
		return nil, store.Run{}, badInput(err)
	}
	return st, run, nil
}

// storeErr reports a failure of the run store itself: exit status 1.
func storeErr(err error) error { return &exitError{code: exitFailed, err: err} }

type runsFlags struct {
	store storeFlag
	flow  string
	state string
	limit int
	json  bool
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
	return cmd
}

func listRuns(cmd *cobra.Command, f *runsFlags) error {
	if _, err := store.ParseState(f.state); f.state != "" && err != nil {
		return badInput(fmt.Errorf("--state: %w", err))
	}
	st, err := f.store.open()
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.ListRuns(cmd.Context(), store.RunFilter{Flow: f.flow, State: f.state, Limit: f.limit})
	if err != nil {
		return err
	}
	if f.json {
		return jsonLines(cmd.OutOrStdout(), runs)
	}
	return runsTable(cmd.OutOrStdout(), runs, time.Now())
}

func runsTable(out io.Writer, runs []store.Run, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tFLOW\tSTATE\tSTARTED\tDURATION")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shortID(r.ID), output.Cell(r.Flow), r.State,
			r.StartedAt.Format("2006-01-02 15:04:05"), duration(r.Duration(now)))
	}
	return tw.Flush()
}

// shortID is as much of a run id as a person types: 8 hex digits.
func shortID(id string) string { return id[:min(len(id), 8)] }

// duration rounds d for a table: milliseconds under a minute, seconds above.
func duration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// jsonOrString is v if it is JSON, else v as a JSON string, as -p reads it.
func jsonOrString(v string) json.RawMessage {
	if json.Valid([]byte(v)) {
		return json.RawMessage(v)
	}
	b, _ := json.Marshal(v)
	return b
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
