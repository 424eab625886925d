//go:build !wfshlight

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/bundle"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

type workerFlags struct {
	pool, name string
	slots      int
	grace      time.Duration
	bundles    string
	remote     remoteFlags
	k8s        kubeWorkerFlags // worker_kubernetes.go
}

func newWorkerCmd() *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "worker --pool POOL",
		Short: fullOnly["worker"],
		Long: `Claim the due runs of a pool from the server (long poll: a due run starts at
once), hold each under a lease renewed by heartbeats, and run each in a
child wfsh process from its bundle (cached by hash). A run cancelled on the
server gets SIGINT, then is killed after --grace. SIGINT or SIGTERM drains
the worker: it claims no more, lets its runs finish for --grace, then
cancels them. See docs/server.md.`,
		Example: `  wfsh worker --pool default --slots 4`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runWorker(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.pool, "pool", "default", "the work pool")
	fl.StringVar(&f.name, "name", "", "the worker's name (default the host name)")
	fl.IntVar(&f.slots, "slots", 1, "runs at once")
	fl.DurationVar(&f.grace, "grace", 30*time.Second, "how long a cancelled or draining run may take to stop")
	fl.StringVar(&f.bundles, "bundles", "", "where bundles are unpacked (default $WFSH_HOME/bundles)")
	f.remote.register(fl)
	f.k8s.register(fl)
	return cmd
}

// worker is one `wfsh worker`.
type worker struct {
	c     *server.Client
	f     *workerFlags
	info  server.WorkerInfo
	cache bundle.Cache
	// work holds each run's copy of its bundle (work/RUN), removed when
	// the run's process ends and, whole, when the worker does.
	work string
	log  io.Writer
	exe  string

	mu      sync.Mutex
	running map[string]*childRun
	done    chan struct{} // a child ended
	lease   *server.Lease
}

type childRun struct {
	cmd       *exec.Cmd
	cancelled bool
	exited    chan struct{}
}

func runWorker(cmd *cobra.Command, f *workerFlags) error {
	if f.slots < 1 {
		return badInput(fmt.Errorf("--slots %d: want at least 1", f.slots))
	}
	c, err := f.remote.client()
	if err != nil {
		return err
	}
	if err := execKubernetesWorker(cmd, c, f); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if f.bundles == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return storeErr(err)
		}
		f.bundles = filepath.Join(filepath.Dir(p), "bundles")
	}
	if f.name == "" {
		f.name, _ = os.Hostname()
	}
	w := &worker{c: c, f: f, cache: bundle.Cache{Dir: f.bundles}, log: cmd.ErrOrStderr(), exe: exe,
		info:    server.WorkerInfo{ID: fmt.Sprintf("%s-%d-%s", f.name, os.Getpid(), runtime.NewRunID()[:6]), Name: f.name, Slots: f.slots},
		running: map[string]*childRun{}, done: make(chan struct{}, 64), lease: server.NewLease(30 * time.Second)}
	if w.work, err = os.MkdirTemp("", "wfsh-worker-"); err != nil {
		return err
	}
	defer os.RemoveAll(w.work)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(cmd.OutOrStdout(), "wfsh worker %s: pool %s, %d slot(s), server %s\n", w.info.ID, f.pool, f.slots, c.Base)
	hbCtx, stopHB := context.WithCancel(context.Background())
	defer stopHB()
	go w.heartbeats(hbCtx)
	w.claimLoop(ctx)
	w.drain()
	return nil
}

func (w *worker) logf(format string, args ...any) {
	fmt.Fprintf(w.log, "%s wfsh worker: %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// claimLoop claims runs while there are free slots, until ctx ends.
func (w *worker) claimLoop(ctx context.Context) {
	for fails := 0; ctx.Err() == nil; {
		free := w.f.slots - w.count()
		if free <= 0 {
			select {
			case <-ctx.Done():
			case <-w.done:
			}
			continue
		}
		var runs []server.Claimed
		err := w.c.Do(ctx, "POST", "/pools/"+server.PathEscape(w.f.pool)+"/claim",
			server.ClaimRequest{Worker: w.info, Max: free, WaitMS: 30000}, &runs)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.logf("claim: %v", err)
			sleepCtx(ctx, server.Backoff(fails))
			fails++
			continue
		}
		fails = 0
		for _, cl := range runs {
			w.lease.Claimed(cl)
			w.start(ctx, cl)
		}
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

func (w *worker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// start runs a claimed run in a child process, in a copy of its bundle's
// tree of its own (as a Prefect worker clones a run's code into a
// temporary directory): files a run writes beside its flow are seen by no
// other run, and the cache stays as it was unpacked.
func (w *worker) start(ctx context.Context, cl server.Claimed) {
	id := cl.Run.ID
	if _, err := w.bundle(ctx, cl.Bundle, id); err != nil {
		w.crash(id, fmt.Sprintf("the worker could not get the run's bundle: %v", err))
		return
	}
	dir := filepath.Join(w.work, id)
	os.RemoveAll(dir) // an earlier attempt of the run on this worker
	if err := w.cache.Checkout(cl.Bundle, dir); err != nil {
		w.crash(id, fmt.Sprintf("the worker could not copy the run's bundle: %v", err))
		return
	}
	cmd := exec.Command(w.exe, cl.RunArgs(filepath.Join(dir, cl.File))...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WFSH_SERVER="+w.c.Base, "WFSH_TOKEN="+w.c.Token, "WFSH_WORKER_ID="+w.info.ID, "WFSH_RUN_ID="+id)
	out := prefixed(w.log, id)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		w.crash(id, fmt.Sprintf("the worker could not start the run's process: %v", err))
		return
	}
	ch := &childRun{cmd: cmd, exited: make(chan struct{})}
	w.mu.Lock()
	w.running[id] = ch
	w.mu.Unlock()
	w.logf("run %s (%s): started, pid %d", id, cl.Run.Flow, cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		out.flush()
		os.RemoveAll(dir)
		close(ch.exited)
		w.mu.Lock()
		delete(w.running, id)
		w.mu.Unlock()
		// A child that ended without its final state (killed, out of
		// memory, a flow that does not build: any status but those of
		// a run that ended) leaves the run unfinished: it crashed. The
		// server leaves a run that did end as it is.
		switch code := cmd.ProcessState.ExitCode(); code {
		case exitSuccess, exitFailed, exitInterrupted:
		default:
			w.crash(id, fmt.Sprintf("the run's process ended (%v) before the run ended", err))
		}
		w.logf("run %s: process ended (%v)", id, errOr(err))
		w.done <- struct{}{}
	}()
}

func errOr(err error) any {
	if err == nil {
		return "exit status 0"
	}
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// bundle is the directory of a bundle, fetched (for the run that needs
// it: a worker may read only the bundles of runs it holds) and unpacked
// once.
func (w *worker) bundle(ctx context.Context, hash, runID string) (string, error) {
	if dir, ok := w.cache.Lookup(hash); ok {
		return dir, nil
	}
	var data []byte
	if err := w.c.Do(ctx, "GET", server.Query("/bundles/"+hash, "run", runID), nil, &data); err != nil {
		return "", err
	}
	return w.cache.Extract(hash, bytes.NewReader(data))
}

// crash tells the server a run ended without its final state; the
// server leaves a run that did end as it is.
func (w *worker) crash(id, msg string) {
	body := map[string]string{"worker": w.info.ID, "message": msg}
	if err := w.c.Do(context.Background(), "POST", "/runs/"+id+"/crash", body, nil); err != nil {
		w.logf("run %s: telling the server it crashed: %v", id, err)
	}
}

// heartbeats renew the leases of the runs held, a third of a lease
// apart, and act on what the server says: cancel (SIGINT, then kill
// after the grace) or gone (kill now).
func (w *worker) heartbeats(ctx context.Context) {
	for w.lease.WaitHeartbeat(ctx) {
		w.mu.Lock()
		ids := sortedKeys(w.running)
		w.mu.Unlock()
		var reply server.HeartbeatReply
		if err := w.c.Do(ctx, "POST", "/pools/"+server.PathEscape(w.f.pool)+"/heartbeat",
			server.Heartbeat{Worker: w.info, Runs: ids}, &reply); err != nil {
			w.logf("heartbeat: %v", err)
			continue
		}
		for _, id := range reply.Cancel {
			w.cancel(id)
		}
		for _, id := range reply.Gone {
			w.kill(id, "the server no longer gives this worker the run")
		}
	}
}

// cancel interrupts a run's process once, and kills it after the grace.
func (w *worker) cancel(id string) {
	w.mu.Lock()
	ch := w.running[id]
	if ch == nil || ch.cancelled {
		w.mu.Unlock()
		return
	}
	ch.cancelled = true
	w.mu.Unlock()
	w.logf("run %s: cancelled on the server; interrupting it", id)
	ch.cmd.Process.Signal(os.Interrupt)
	go func() {
		select {
		case <-ch.exited:
		case <-time.After(w.f.grace):
			w.kill(id, fmt.Sprintf("it did not stop within %v of its interrupt", w.f.grace))
		}
	}()
}

func (w *worker) kill(id, why string) {
	w.mu.Lock()
	ch := w.running[id]
	w.mu.Unlock()
	if ch == nil {
		return
	}
	w.logf("run %s: killing its process: %s", id, why)
	syscall.Kill(-ch.cmd.Process.Pid, syscall.SIGKILL)
}

// drain lets the runs held finish for the grace, then cancels them and
// waits for them to end.
func (w *worker) drain() {
	n := w.count()
	if n == 0 {
		return
	}
	w.logf("draining: %d run(s) may finish within %v", n, w.f.grace)
	deadline := time.After(w.f.grace)
	for w.count() > 0 {
		select {
		case <-w.done:
			continue
		case <-deadline:
		}
		break
	}
	w.mu.Lock()
	ids := sortedKeys(w.running)
	w.mu.Unlock()
	for _, id := range ids {
		w.cancel(id)
	}
	for w.count() > 0 {
		<-w.done
	}
}

// lineWriter writes each line of a child's output to w after "[run] ".
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	tag string
	buf []byte
}

func prefixed(w io.Writer, id string) *lineWriter {
	return &lineWriter{w: w, tag: "[" + id[:min(8, len(id))] + "] "}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		fmt.Fprintf(l.w, "%s%s\n", l.tag, l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

// flush writes a last line without its newline.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		fmt.Fprintf(l.w, "%s%s\n", l.tag, l.buf)
		l.buf = nil
	}
}
