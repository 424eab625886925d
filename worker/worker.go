// Package worker is the core of a work pool's worker, whatever runs its
// runs: it claims the pool's due runs from the server by long poll, as
// many as it has free slots, holds each under its lease by heartbeats,
// passes on what the server says of them (cancel, gone), tells the
// server of a run that ended without its final state, and drains on its
// way out. How a claimed run runs is a Runner's: a child process (`wfsh
// worker`, cmd/wfsh) or a Kubernetes Job (k8spool). See docs/server.md.
package worker

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/wfsh/wfsh/server"
)

// Runner runs claimed runs.
type Runner interface {
	// Start starts a run the worker has just claimed. An error ends the
	// run Crashed, with the error as its message: it never started.
	Start(ctx context.Context, cl server.Claimed) (Run, error)
}

// ClaimWatcher is a Runner told of each claim's runs before they start
// (the kubernetes worker reads its pool's Job template again then).
type ClaimWatcher interface {
	Claimed(ctx context.Context, runs []server.Claimed)
}

// End is how a run's process or Job ended.
type End struct {
	// Crash says why the run crashed: "" if it ended with its own final
	// state on the server (or was left to it).
	Crash string
	// TimedOut: it was stopped at its deadline; the server ends it
	// Failed rather than Crashed.
	TimedOut bool
}

// Run is a claimed run that a Runner runs.
type Run interface {
	// Wait waits until the run's process or Job has ended, and says
	// how.
	Wait() End
	// Cancel stops it, cancelled on the server: an interrupt, and a kill
	// after a grace (a process), or its Job deleted. Called once.
	Cancel()
	// Drop stops it at once: the server no longer gives the run to this
	// worker (it was reaped, or claimed by another). Called once.
	Drop()
}

// Config is one worker.
type Config struct {
	API  *server.Client // a worker token of Pool
	Pool string
	Info server.WorkerInfo // its ID, name and slots
	// Grace is how long a draining worker lets its runs go on.
	Grace time.Duration
	// CancelOnDrain cancels the runs still going after the grace, and
	// waits for them (child processes, which die with their worker);
	// otherwise they are left to their Jobs and leases.
	CancelOnDrain bool
	Log           io.Writer
}

// Worker claims, holds and follows runs.
type Worker struct {
	cfg   Config
	run   Runner
	lease *Lease

	mu   sync.Mutex
	held map[string]*held // by run ID
	done chan struct{}    // a run ended
}

type held struct {
	run          Run
	cancel, drop sync.Once
}

// DefaultLease is the lease a worker assumes until its first claim says.
const DefaultLease = 30 * time.Second

// maxClaim is the most runs one claim may ask for (server.ClaimRequest).
const maxClaim = 100

// New makes a worker that runs its runs with r.
func New(cfg Config, r Runner) *Worker {
	if cfg.Info.Slots < 1 {
		cfg.Info.Slots = 1
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return &Worker{cfg: cfg, run: r, lease: NewLease(DefaultLease), held: map[string]*held{}, done: make(chan struct{}, 1)}
}

// ID is the worker's id as the server knows it.
func (w *Worker) ID() string { return w.cfg.Info.ID }

// Logf writes a line of the worker's log.
func (w *Worker) Logf(format string, args ...any) { Logf(w.cfg.Log, format, args...) }

// Logf writes a line of a worker's log to out: the time, then the text.
func Logf(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "%s wfsh worker: %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// Run claims and runs runs until ctx ends, then drains: it claims no
// more, lets its runs go on for the grace, then cancels them or leaves
// them (CancelOnDrain). Heartbeats go on until it returns. It returns
// nil, or a *RefusedError when the server refused the worker's token
// (after draining too).
func (w *Worker) Run(ctx context.Context) error {
	hbCtx, stopHB := context.WithCancel(context.Background())
	defer stopHB()
	go w.heartbeats(hbCtx)
	err := w.claimLoop(ctx)
	w.drain()
	return err
}

// count is how many runs the worker holds.
func (w *Worker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

// ids are the runs held, sorted.
func (w *Worker) ids() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]string, 0, len(w.held))
	for id := range w.held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// claimLoop claims runs while there are free slots, until ctx ends or
// the server refuses the worker's token (that error). A server that
// does not answer is tried again (Retry).
func (w *Worker) claimLoop(ctx context.Context) error {
	for ctx.Err() == nil {
		free := min(w.cfg.Info.Slots-w.count(), maxClaim)
		if free <= 0 {
			select {
			case <-ctx.Done():
			case <-w.done:
			}
			continue
		}
		var runs []server.Claimed
		err := Retry(ctx, w.cfg.Log, "claim", func(ctx context.Context) error {
			runs = nil
			return w.cfg.API.Do(ctx, "POST", "/pools/"+server.PathEscape(w.cfg.Pool)+"/claim",
				server.ClaimRequest{Worker: w.cfg.Info, Max: free, WaitMS: 30000}, &runs)
		}, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if cw, ok := w.run.(ClaimWatcher); ok && len(runs) > 0 {
			cw.Claimed(ctx, runs)
		}
		for _, cl := range runs {
			w.lease.Claimed(cl)
			w.start(ctx, cl)
		}
	}
	return nil
}

// start starts a claimed run, and follows it to its end.
func (w *Worker) start(ctx context.Context, cl server.Claimed) {
	id := cl.Run.ID
	r, err := w.run.Start(ctx, cl)
	if err != nil {
		w.crash(id, End{Crash: err.Error()})
		return
	}
	w.mu.Lock()
	w.held[id] = &held{run: r}
	w.mu.Unlock()
	go func() {
		if end := r.Wait(); end.Crash != "" {
			w.crash(id, end)
		}
		w.mu.Lock()
		delete(w.held, id)
		w.mu.Unlock()
		select {
		case w.done <- struct{}{}:
		default:
		}
	}()
}

// crash tells the server a run ended without its final state: Crashed,
// or Failed if it timed out. The server leaves a run that did end as it
// is.
func (w *Worker) crash(id string, end End) {
	body := map[string]any{"worker": w.ID(), "message": end.Crash, "timed_out": end.TimedOut}
	if err := w.cfg.API.Do(context.Background(), "POST", "/runs/"+server.PathEscape(id)+"/crash", body, nil); err != nil {
		w.Logf("run %s: telling the server it crashed: %v", id, err)
	}
}

// heartbeats renew the leases of the runs held, a third of a lease
// apart, and act on what the server says: a run cancelled is cancelled,
// a run no longer the worker's is dropped.
func (w *Worker) heartbeats(ctx context.Context) {
	f := failures{what: "heartbeat", out: w.cfg.Log}
	for w.lease.WaitHeartbeat(ctx) {
		var reply server.HeartbeatReply
		if err := w.cfg.API.Do(ctx, "POST", "/pools/"+server.PathEscape(w.cfg.Pool)+"/heartbeat",
			server.Heartbeat{Worker: w.cfg.Info, Runs: w.ids()}, &reply); err != nil {
			if ctx.Err() == nil {
				f.failed(err)
			}
			continue
		}
		f.ok()
		for _, id := range reply.Cancel {
			w.cancel(id)
		}
		for _, id := range reply.Gone {
			if h := w.get(id); h != nil {
				h.drop.Do(h.run.Drop)
			}
		}
	}
}

func (w *Worker) get(id string) *held {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held[id]
}

// cancel cancels a run held, once.
func (w *Worker) cancel(id string) {
	if h := w.get(id); h != nil {
		h.cancel.Do(h.run.Cancel)
	}
}

// drain lets the runs held go on for the grace; then it cancels those
// still going and waits for them, or leaves them to their Jobs and
// leases.
func (w *Worker) drain() {
	n := w.count()
	if n == 0 {
		return
	}
	w.Logf("draining: %d run(s) may finish within %v", n, w.cfg.Grace)
	deadline := time.After(w.cfg.Grace)
	for w.count() > 0 {
		select {
		case <-w.done:
			continue
		case <-deadline:
		}
		break
	}
	if !w.cfg.CancelOnDrain {
		if n := w.count(); n > 0 {
			w.Logf("leaving %d run(s) to their jobs and leases", n)
		}
		return
	}
	for _, id := range w.ids() {
		w.cancel(id)
	}
	for w.count() > 0 {
		<-w.done
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
