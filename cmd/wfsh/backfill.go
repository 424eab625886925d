package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
)

type backfillFlags struct {
	flow     string
	from, to string
	days     int // runs at once
	params   []string
	context  []string
	logLevel string
	store    storeFlag
}

// maxBackfillDays bounds a backfill, against a mistyped year.
const maxBackfillDays = 3660

func newBackfillCmd() *cobra.Command {
	var f backfillFlags
	cmd := &cobra.Command{
		Use:   "backfill FILE --from DAY --to DAY",
		Short: "Run a flow once per day, with context.today set to each day",
		Long: `Run a flow once for each day from --from to --to (both included, YYYY-MM-DD),
as 'wfsh run FILE --context today=DAY' would, oldest first, --concurrency days at
once. Each run is recorded like any other. Tasks with cache_for whose code reads
context.today keep one result per day: a backfill run again does not redo the
days it already did. Exit status: 0 when every day succeeds, 1 when one fails,
2 for bad input, 130 when interrupted.`,
		Example: `  wfsh backfill flows/etl.star --from 2020-11-25 --to 2020-11-30
  wfsh backfill flows/etl.star --from 2020-11-01 --to 2020-11-30 --concurrency 4`,
		Args:              oneFile,
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return backfill(cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.flow, "flow", "", "the flow to run, when FILE defines several")
	fl.StringVar(&f.from, "from", "", "the first day, YYYY-MM-DD (required)")
	fl.StringVar(&f.to, "to", "", "the last day, YYYY-MM-DD (required)")
	fl.IntVar(&f.days, "concurrency", 1, "days run at once")
	fl.StringArrayVarP(&f.params, "param", "p", nil, "a flow parameter as NAME=VALUE, for every day")
	fl.StringArrayVar(&f.context, "context", nil, "override a context key as KEY=VALUE, for every day (not today)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warning or error")
	f.store.register(fl)
	return cmd
}

// backfillDays lists the days from from to to.
func backfillDays(from, to string) ([]string, error) {
	if from == "" || to == "" {
		return nil, fmt.Errorf("give the days to run with --from and --to (YYYY-MM-DD)")
	}
	a, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return nil, fmt.Errorf("--from %s: want a day as YYYY-MM-DD", from)
	}
	b, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return nil, fmt.Errorf("--to %s: want a day as YYYY-MM-DD", to)
	}
	if b.Before(a) {
		return nil, fmt.Errorf("--to %s is before --from %s", to, from)
	}
	var days []string
	for d := a; !d.After(b); d = d.AddDate(0, 0, 1) {
		if len(days) == maxBackfillDays {
			return nil, fmt.Errorf("--from %s --to %s: more than %d days; backfill a part at a time", from, to, maxBackfillDays)
		}
		days = append(days, d.Format(time.DateOnly))
	}
	return days, nil
}

// dayRun is the outcome of one day.
type dayRun struct {
	day   string
	runID string
	state runtime.State
	took  time.Duration
	err   error
}

func backfill(cmd *cobra.Command, path string, f *backfillFlags) error {
	if err := handOffFlow(path); err != nil {
		return err
	}
	level, params, ctxKV, err := runInputs(f.logLevel, f.params, f.context)
	if err != nil {
		return err
	}
	days, err := backfillDays(f.from, f.to)
	if err != nil {
		return badInput(err)
	}
	if f.days < 1 {
		return badInput(fmt.Errorf("--concurrency %d: want the number of days to run at once, 1 or more", f.days))
	}
	if _, ok := ctxKV["today"]; ok {
		return badInput(fmt.Errorf("--context today=...: backfill sets today to each day itself"))
	}
	var st *runner.Store
	if path, err := f.store.where(); err != nil {
		return err
	} else if st, err = runner.OpenStore(path, cmd.ErrOrStderr()); err != nil {
		return err
	}
	r := newRunner(cmd.ErrOrStderr(), level, st, 0)
	defer r.Close()
	out := output.NewBufferedWriter(cmd.OutOrStdout(), 50*time.Millisecond)
	defer out.Close()
	fl, err := r.Load(path, f.flow, out)
	if err != nil {
		return err
	}
	ctx, stop := runner.WithInterrupts(cmd.Context(), func() {
		r.Close()
		out.Close()
		os.Exit(exitInterrupted)
	})
	defer stop()
	runs := make([]dayRun, len(days))
	var wg sync.WaitGroup
	slots := make(chan struct{}, f.days)
	for i, day := range days {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			runs[i] = dayRun{day: day, state: runtime.Cancelled}
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			runs[i] = runDay(ctx, r, fl, out, level, day, params, ctxKV)
		})
	}
	wg.Wait()
	err = backfillSummary(out, runs)
	if cerr := out.Close(); cerr != nil {
		return outputDone(out, max(errorCode(err), exitFailed))
	}
	return err
}

// runDay builds and runs the flow for one day, and records it.
func runDay(ctx context.Context, r *runner.Runner, fl *runner.Flow, out io.Writer, level runtime.Level,
	day string, params map[string]json.RawMessage, ctxKV map[string]string) dayRun {
	kv := map[string]string{"today": day}
	maps.Copy(kv, ctxKV)
	start := time.Now()
	run, err := r.Prepare(ctx, fl, runner.Request{Params: params, Context: kv})
	if err != nil {
		return dayRun{day: day, state: runtime.Failed, err: err}
	}
	res := run.Execute(ctx, &output.LogPrinter{Out: out, Level: level, Graph: run.Graph()})
	return dayRun{day: day, runID: run.ID, state: res.State, took: time.Since(start)}
}

// backfillSummary prints a line per day and returns the exit status: the
// worst of bad input (a day's flow did not build), failure and
// interruption.
func backfillSummary(w io.Writer, runs []dayRun) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tRUN\tSTATE\tDURATION")
	code := exitSuccess
	var msgs []string
	for _, r := range runs {
		id, took := "-", "-"
		if r.runID != "" {
			id, took = runner.ShortID(r.runID), duration(r.took)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.day, id, r.state, took)
		c := exitCode(r.state)
		if r.err != nil {
			c = errorCode(r.err)
		}
		if r.err != nil {
			msgs = append(msgs, r.day+": "+r.err.Error())
		}
		if c != exitSuccess && (code == exitSuccess || c == exitBadInput) {
			code = c
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return &exitError{code: code, err: errors.New(strings.Join(msgs, "\n"))}
	}
	return &exitError{code: code}
}
