//go:build !wfshlight

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
	"github.com/wfsh/wfsh/store"
)

type serveFlags struct {
	logLevel    string
	concurrency int
	store       storeFlag
	tui         bool
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve FILE...",
		Short: fullOnly["serve"],
		Long: `Run every flow with a schedule= in the given files on its schedules, in this
process, until interrupted. Each run is recorded in the run store with its
scheduled time and a key that the store keeps unique: a scheduled time runs
once, across restarts and however many 'wfsh serve' share the store. Times
missed while nothing ran go by the flow's catchup=, a time that comes while a
run of the same flow still runs by its overlap=, and a run that starts more
than late_after past its time is marked Late. Runs print their log lines as
'wfsh run' does; the scheduler's own lines are wfsh.Scheduler's.
Exit status: 130 when interrupted (running flow runs are cancelled and
recorded Cancelled), 0 when every schedule has ended, 2 for bad input (also
a file without a scheduled flow, two flows of one name), 1 when the run
store fails.`,
		Example: `  wfsh serve flows/scheduled_etl.star
  wfsh serve flows/etl.star flows/report.star --store /var/lib/wfsh/wfsh.db`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInput(fmt.Errorf("give the flow files to serve: wfsh serve FILE..."))
			}
			return nil
		},
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(cmd, args, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warning or error")
	fl.IntVar(&f.concurrency, "concurrency", 0, "task bodies of one run at once (default: as wfsh run)")
	fl.BoolVar(&f.tui, "tui", false, "show the upcoming times and the runs in progress live in the terminal (docs/schedules.md); log lines when stdout is not a terminal")
	f.store.register(fl)
	return cmd
}

// maxSleep bounds a scheduler's sleep, so that it compares its next time
// with the wall clock at least this often: a timer counts elapsed time,
// and would not notice the clock being stepped forward.
const maxSleep = time.Minute

// serveLoop runs the scheduled flows of one `wfsh serve`.
type serveLoop struct {
	r     *runner.Runner
	st    *store.Store
	out   io.Writer
	level runtime.Level
	now   func() time.Time
	// maxSleep bounds each sleep (0: maxSleep).
	maxSleep time.Duration
	// view, with --tui, shows the runs and the scheduler's lines in
	// place of log lines.
	view *serveView

	wg sync.WaitGroup // the scheduling loops and the runs

	active  atomic.Int64 // runs in progress
	relMu   sync.Mutex
	release *time.Timer // gives memory back once idle
}

// releaseAfter is how long serve waits, once no run is in progress, to
// give the memory of the last burst of runs back to the system.
const releaseAfter = 5 * time.Second

// started counts a run in progress.
func (sv *serveLoop) started() { sv.active.Add(1) }

// stopped counts a run that ended; the last of a burst arms the release
// of memory, which a run starting meanwhile does not stop but makes a
// no-op: the memory of a burst of a thousand runs is garbage once it has
// ended, and Go would keep it from the system until long after.
func (sv *serveLoop) stopped() {
	if sv.active.Add(-1) > 0 {
		return
	}
	sv.relMu.Lock()
	defer sv.relMu.Unlock()
	if sv.release != nil {
		sv.release.Stop()
	}
	sv.release = time.AfterFunc(releaseAfter, func() {
		if sv.active.Load() == 0 {
			debug.FreeOSMemory()
		}
	})
}

// scheduled is one schedule of one flow.
type scheduled struct {
	fl     *runner.Flow
	s      *builtins.ScheduleValue
	policy schedule.Policy
	params map[string]json.RawMessage
	flow   *flowRuns
}

// flowRuns are the runs of one flow in progress in this process, which
// its overlap= looks at, and those waiting for them to end.
type flowRuns struct {
	mu      sync.Mutex
	running map[string]context.CancelFunc // by run key
	waiting []waitingRun                  // oldest first
}

// waitingRun is a scheduled time that runs now, or one left waiting by
// overlap=queue or cancel_other: queued, with its row in the store (id),
// so that it runs once even if this process dies before it starts.
type waitingRun struct {
	j   *scheduled
	t   time.Time
	key string
	id  string // the queued run's id; "" for a run not queued
}

func serve(cmd *cobra.Command, paths []string, f *serveFlags) error {
	for _, path := range paths {
		if err := handOffFlow(path); err != nil {
			return err
		}
	}
	level, err := runtime.ParseLevel(f.logLevel)
	if err != nil {
		return badInput(err)
	}
	if f.concurrency < 0 {
		return badInput(fmt.Errorf("--concurrency %d: want 1 or more", f.concurrency))
	}
	path, err := f.store.where()
	if err != nil {
		return err
	}
	// A long-lived process whose live heap is small and whose garbage
	// comes in bursts of runs: collect as GOGC=100 (as wfsh logs does),
	// not 400.
	streamGC()
	rst, err := runner.OpenStore(path, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	r := newRunner(cmd.ErrOrStderr(), level, rst, f.concurrency)
	defer r.Close()
	out := output.NewBufferedWriter(cmd.OutOrStdout(), 50*time.Millisecond)
	defer out.Close()
	var jobs []*scheduled
	where := map[string]string{} // flow name: its file
	for _, p := range paths {
		js, err := scheduledFlows(r, p, out)
		if err != nil {
			return err
		}
		for _, j := range js {
			name, pos := j.fl.Flow.Name(), j.fl.Flow.Pos().String()
			if w, ok := where[name]; ok && w != pos {
				return badInput(fmt.Errorf("%s: flow %s is also defined at %s: a scheduled run is known by its flow's name, so two flows of one wfsh serve need two names", pos, name, w))
			}
			where[name] = pos
		}
		jobs = append(jobs, js...)
	}
	st, err := rst.Open()
	if err != nil {
		return storeErr(err)
	}
	tty, err := serveTTY(cmd, f)
	if err != nil {
		return err
	}
	sv := &serveLoop{r: r, st: st, out: out, level: level, now: time.Now}
	if tty != nil {
		sv.view = newServeView(tty, jobs, r)
	}
	ctx, stop := runner.WithInterrupts(cmd.Context(), func() {
		sv.view.kill()
		r.Close()
		out.Close()
		os.Exit(exitInterrupted)
	})
	defer stop()
	if sv.view != nil {
		out.Flush() // what the flows printed while loading, before the screen changes
		ctx = sv.view.start(ctx)
	}
	for _, j := range jobs {
		sv.logf(runtime.Info, "Flow '%s' (%s): %s, catchup=%s overlap=%s late_after=%s", j.fl.Flow.Name(), j.fl.Path,
			j.s, j.policy.Catchup, j.policy.Overlap, j.policy.LateAfter)
	}
	var loops sync.WaitGroup
	for _, j := range jobs {
		loops.Go(func() { sv.loop(ctx, j) })
	}
	ended := make(chan struct{})
	go func() { loops.Wait(); close(ended) }()
	select {
	case <-ctx.Done():
		sv.logf(runtime.Info, "Interrupted: cancelling the runs in progress")
	case <-ended:
		sv.logf(runtime.Info, "Every schedule has ended: waiting for the runs in progress")
	}
	<-ended
	sv.wg.Wait()
	if n := sv.stillQueued(jobs); n > 0 {
		sv.logf(runtime.Info, "%d queued run(s) stay queued in the run store: the next wfsh serve of their flow runs them", n)
	}
	if err := sv.view.stop(out, cmd.ErrOrStderr(), ctx.Err() != nil); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted}
	}
	return nil
}

// scheduledFlows loads a file and gives each schedule of each of its
// flows; a file without a scheduled flow is bad input.
func scheduledFlows(r *runner.Runner, path string, out io.Writer) ([]*scheduled, error) {
	fls, err := r.LoadAll(path, out)
	if err != nil {
		return nil, err
	}
	var jobs []*scheduled
	for _, fl := range fls {
		runs := &flowRuns{running: map[string]context.CancelFunc{}}
		for _, s := range fl.Flow.Schedules() {
			d, err := fl.Flow.ScheduleParams(s)
			if err != nil {
				return nil, badInput(err)
			}
			raw, err := builtins.EncodeJSON(d)
			if err != nil {
				return nil, badInput(fmt.Errorf("schedule %s: parameters: %v", s, err))
			}
			var params map[string]json.RawMessage
			if err := json.Unmarshal(raw, &params); err != nil {
				return nil, badInput(fmt.Errorf("schedule %s: parameters: %v", s, err))
			}
			jobs = append(jobs, &scheduled{fl: fl, s: s, policy: fl.Flow.SchedulePolicy(), params: params, flow: runs})
		}
	}
	if len(jobs) == 0 {
		f := fls[0].Flow
		return nil, badInput(&runtime.PosError{Pos: f.Pos(), Msg: fmt.Sprintf(
			"flow %s has no schedule, nothing to serve; give its @flow a schedule=cron(...), interval(...) or rrule(...)", f.Name())})
	}
	return jobs, nil
}

// logf prints a line of the scheduler's, as the log printer prints a
// run's.
func (sv *serveLoop) logf(level runtime.Level, format string, args ...any) {
	if level < sv.level {
		return
	}
	if sv.view != nil {
		sv.view.line(fmt.Sprintf("[%s] %s | %s", sv.now().Format("15:04:05"), level, fmt.Sprintf(format, args...)))
		return
	}
	fmt.Fprintf(sv.out, "[%s] %s - wfsh.Scheduler | %s\n", sv.now().Format("2006-01-02 15:04:05-0700"), level, fmt.Sprintf(format, args...))
}

// loop creates the runs of one schedule as they fall due: it asks the
// policy what is due from the newest time in the store, starts those
// runs, and sleeps until the next time (at most maxSleep, then looks at
// the wall clock again).
func (sv *serveLoop) loop(ctx context.Context, j *scheduled) {
	s, flow := j.s.Schedule, j.fl.Flow.Name()
	last, err := sv.st.LastScheduled(ctx, flow, s.ID())
	if err != nil {
		if ctx.Err() == nil {
			sv.logf(runtime.Error, "Flow '%s': schedule %s: reading the run store: %v; not scheduling it", flow, s.ID(), err)
		}
		return
	}
	if last.IsZero() {
		last = sv.now() // a new schedule starts now: nothing was missed
	}
	sv.adopt(ctx, j)
	for ctx.Err() == nil {
		now := sv.now()
		due := j.policy.DueTimes(s, last, now)
		if due.Skipped > 0 {
			sv.logf(runtime.Info, "Flow '%s': %d scheduled time(s) of %s missed while nothing ran, not run (catchup=%s)",
				flow, due.Skipped, s.ID(), j.policy.Catchup)
		}
		for _, t := range due.Times {
			sv.start(ctx, j, t)
		}
		if !due.Handled.IsZero() {
			last = due.Handled
		}
		next := s.Next(last)
		if next.IsZero() {
			sv.logf(runtime.Info, "Flow '%s': schedule %s has ended", flow, s.ID())
			return
		}
		wait := next.Sub(sv.now())
		if wait <= 0 {
			continue
		}
		timer := time.NewTimer(min(wait, cmp.Or(sv.maxSleep, maxSleep)))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
		}
	}
}

// start applies overlap= to the run of j at t: starts it, skips it, or
// leaves it waiting for the flow's running runs to end (after cancelling
// them, for cancel_other). Waiting runs start one at a time, oldest first.
func (sv *serveLoop) start(ctx context.Context, j *scheduled, t time.Time) {
	flow, at := j.fl.Flow.Name(), t.UTC().Format(time.RFC3339Nano)
	key := schedule.Key(flow, j.s.ID(), t)
	fr := j.flow
	fr.mu.Lock()
	action := j.policy.Decide(len(fr.running) + len(fr.waiting))
	switch action {
	case schedule.ActionStart:
		sv.launch(ctx, waitingRun{j: j, t: t, key: key})
	case schedule.ActionCancelStart:
		for k, cancel := range fr.running {
			sv.logf(runtime.Info, "Flow '%s': cancelling the run for %s: the run for %s replaces it (overlap=cancel_other)",
				flow, keyTime(k), at)
			cancel()
		}
		fallthrough
	case schedule.ActionWait:
		sv.queue(j, t, key)
	}
	fr.mu.Unlock()
	if action != schedule.ActionSkip {
		return
	}
	id, err := sv.r.RecordSkipped(j.fl, sv.request(j, t, key), "skipped: a run of the flow was still running (overlap=skip)")
	switch {
	case errors.Is(err, store.ErrKeyTaken):
		sv.logf(runtime.Info, "Flow '%s': the run for %s was made by another scheduler", flow, at)
	case err != nil:
		sv.logf(runtime.Error, "Flow '%s': recording the skipped time %s: %v", flow, at, err)
	default:
		sv.logf(runtime.Info, "Flow '%s': run %s for %s skipped: a run of the flow is still running (overlap=skip)",
			flow, runner.ShortID(id), at)
	}
}

// queue records the run of j at t as queued and leaves it waiting for
// the flow's running runs to end; the caller holds the flow's lock.
func (sv *serveLoop) queue(j *scheduled, t time.Time, key string) {
	flow, at := j.fl.Flow.Name(), t.UTC().Format(time.RFC3339Nano)
	msg := fmt.Sprintf("queued: waiting for the running run of the flow to end (overlap=%s)", j.policy.Overlap)
	id, err := sv.r.RecordQueued(j.fl, sv.request(j, t, key), msg)
	switch {
	case errors.Is(err, store.ErrKeyTaken):
		sv.logf(runtime.Info, "Flow '%s': the run for %s was made by another scheduler", flow, at)
	case err != nil:
		sv.logf(runtime.Error, "Flow '%s': queueing the run for %s: %v", flow, at, err)
	default:
		sv.logf(runtime.Info, "Flow '%s': run %s for %s waits for the running one to end (overlap=%s)",
			flow, runner.ShortID(id), at, j.policy.Overlap)
		j.flow.waiting = append(j.flow.waiting, waitingRun{j, t, key, id})
	}
}

// adopt takes over the runs of j's schedule that a wfsh serve now gone
// had queued, and starts the oldest when no run of the flow runs.
func (sv *serveLoop) adopt(ctx context.Context, j *scheduled) {
	flow := j.fl.Flow.Name()
	qs, err := sv.st.AdoptQueued(ctx, flow, j.s.ID())
	if err != nil && ctx.Err() == nil {
		sv.logf(runtime.Error, "Flow '%s': schedule %s: reading its queued runs: %v", flow, j.s.ID(), err)
	}
	if len(qs) == 0 {
		return
	}
	fr := j.flow
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for _, q := range qs {
		sv.logf(runtime.Info, "Flow '%s': run %s for %s was queued by a wfsh serve that has stopped: it runs in its turn",
			flow, runner.ShortID(q.ID), q.At.UTC().Format(time.RFC3339Nano))
		fr.waiting = append(fr.waiting, waitingRun{j, q.At.In(j.s.Location()), q.Key, q.ID})
	}
	slices.SortStableFunc(fr.waiting, func(a, b waitingRun) int { return a.t.Compare(b.t) })
	if len(fr.running) == 0 && ctx.Err() == nil {
		next := fr.waiting[0]
		fr.waiting = fr.waiting[1:]
		sv.launch(ctx, next)
	}
}

// stillQueued is how many runs were left queued when serving stopped.
func (sv *serveLoop) stillQueued(jobs []*scheduled) int {
	n := 0
	seen := map[*flowRuns]bool{}
	for _, j := range jobs {
		if fr := j.flow; !seen[fr] {
			seen[fr] = true
			fr.mu.Lock()
			n += len(fr.waiting)
			fr.mu.Unlock()
		}
	}
	return n
}

// launch starts w's run; the caller holds the flow's lock.
func (sv *serveLoop) launch(ctx context.Context, w waitingRun) {
	rctx, cancel := context.WithCancel(ctx)
	w.j.flow.running[w.key] = cancel
	sv.started()
	sv.wg.Go(func() {
		defer sv.stopped()
		defer sv.ended(ctx, w)
		defer cancel()
		sv.run(rctx, w)
	})
}

// ended forgets w's run and starts the oldest waiting run of the flow
// when none runs any more.
func (sv *serveLoop) ended(ctx context.Context, w waitingRun) {
	fr := w.j.flow
	fr.mu.Lock()
	defer fr.mu.Unlock()
	delete(fr.running, w.key)
	if len(fr.running) > 0 || len(fr.waiting) == 0 || ctx.Err() != nil {
		return
	}
	next := fr.waiting[0]
	fr.waiting = fr.waiting[1:]
	sv.launch(ctx, next)
}

// keyTime is the time part of a schedule key.
func keyTime(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return key
}

func (sv *serveLoop) request(j *scheduled, t time.Time, key string) runner.Request {
	return runner.Request{Params: j.params, Scheduled: &store.Scheduled{
		At: t.In(j.s.Location()), ScheduleID: j.s.ID(), Key: key, Late: j.policy.Late(t, sv.now())}}
}

// run makes and runs the run of w; cancelling ctx cancels it.
func (sv *serveLoop) run(ctx context.Context, w waitingRun) {
	j, t := w.j, w.t
	flow := j.fl.Flow.Name()
	req := sv.request(j, t, w.key)
	req.RunID, req.Queued = w.id, w.id != ""
	at := t.UTC().Format(time.RFC3339Nano)
	run, err := sv.r.Prepare(ctx, j.fl, req)
	switch {
	case errors.Is(err, store.ErrKeyTaken):
		sv.logf(runtime.Info, "Flow '%s': the run for %s was made by another scheduler", flow, at)
		return
	case err != nil:
		sv.logf(runtime.Error, "Flow '%s': the run for %s: %v", flow, at, err)
		if w.id != "" {
			if err := sv.st.EndQueued(w.id, runtime.Failed, err.Error()); err != nil {
				sv.logf(runtime.Error, "Flow '%s': recording the queued run for %s Failed: %v", flow, at, err)
			}
		}
		return
	}
	late := ""
	if req.Scheduled.Late {
		late = fmt.Sprintf(": Late, %s after its time (late_after=%s)", sv.now().Sub(t).Round(time.Millisecond), j.policy.LateAfter)
	}
	sv.logf(runtime.Info, "Flow '%s': run %s for %s (schedule %s)%s", flow, runner.ShortID(run.ID), at, j.s.ID(), late)
	var sink runtime.Sink = &output.LogPrinter{Out: sv.out, Level: sv.level, Graph: run.Graph()}
	if sv.view != nil {
		sink = sv.view.run(run, flow, req.Scheduled)
	}
	res := run.Execute(ctx, sink)
	sv.view.ended(sink, res.State)
	sv.logf(runtime.Info, "Flow '%s': run %s for %s ended %s", flow, runner.ShortID(run.ID), at, res.State)
}
