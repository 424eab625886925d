package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// storeFlag is the --store flag of the commands that read or write the
// run store.
type storeFlag struct{ path string }

func (s *storeFlag) register(fl *pflag.FlagSet) {
	fl.StringVar(&s.path, "store", "", "the run store (default $WFSH_HOME/wfsh.db, else ~/.wfsh/wfsh.db)")
}

// open opens the run store, creating it if need be.
func (s *storeFlag) open() (*store.Store, error) {
	path := s.path
	if path == "" {
		var err error
		if path, err = store.DefaultPath(); err != nil {
			return nil, storeErr(err)
		}
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
		enc := json.NewEncoder(cmd.OutOrStdout())
		for _, r := range runs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	return runsTable(cmd.OutOrStdout(), runs, time.Now())
}

func runsTable(out io.Writer, runs []store.Run, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tFLOW\tSTATE\tSTARTED\tDURATION")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shortID(r.ID), r.Flow, r.State,
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

// recordRun opens the store and starts recording the run about to start.
// The function it returns writes what is left and closes the store; errors
// met writing go to stderr.
//
// Recording is asked for with --store PATH or --record, and --no-store
// wins. It is not the default yet: on many small tasks it still costs more
// than the run itself (docs/store.md).
func recordRun(stderr io.Writer, f *runFlags, path, flow, runID string, ctxKV map[string]string, g *runtime.Graph) (*store.Recorder, func(), error) {
	if f.noStore || (!f.record && f.store.path == "") {
		return nil, func() {}, nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, badInput(err)
	}
	params := map[string]json.RawMessage{}
	for _, kv := range f.params {
		k, v, _ := strings.Cut(kv, "=")
		params[k] = jsonOrString(v)
	}
	pj, _ := json.Marshal(params)
	cj, _ := json.Marshal(ctxKV)
	st, err := f.store.open()
	if err != nil {
		return nil, nil, storeErr(fmt.Errorf("%w (--no-store runs without it)", err))
	}
	sum := sha256.Sum256(src)
	rec, err := st.NewRecorder(store.RecorderOptions{
		Run:   store.RunInfo{ID: runID, Flow: flow, File: path, FileSHA256: hex.EncodeToString(sum[:]), Parameters: pj, Context: cj},
		Graph: g,
		// Results are not stored yet: the encoder of Starlark values comes
		// with resume.
	})
	if err != nil {
		st.Close()
		return nil, nil, storeErr(fmt.Errorf("run store %s: %w", st.Path(), err))
	}
	var once sync.Once
	return rec, func() {
		once.Do(func() {
			if err := rec.Close(); err != nil {
				fmt.Fprintf(stderr, "wfsh: run store %s: %v\n", st.Path(), err)
			}
			st.Close()
		})
	}, nil
}

// jsonOrString is v if it is JSON, else v as a JSON string, as -p reads it.
func jsonOrString(v string) json.RawMessage {
	if json.Valid([]byte(v)) {
		return json.RawMessage(v)
	}
	b, _ := json.Marshal(v)
	return b
}
