//go:build !wfshlight

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/bundle"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
	"github.com/wfsh/wfsh/worker"
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

// procRunner runs each claimed run in a child wfsh process (the worker
// core, package worker, claims and holds them).
type procRunner struct {
	c     *server.Client
	id    string // the worker's
	grace time.Duration
	cache bundle.Cache
	// work holds each run's copy of its bundle (work/RUN), removed when
	// the run's process ends and, whole, when the worker does.
	work string
	log  io.Writer
	exe  string
}

// childRun is a run's child process.
type childRun struct {
	r      *procRunner
	id     string
	cmd    *exec.Cmd
	exited chan struct{}
	crash  string // why the run crashed, once exited
}

func runWorker(cmd *cobra.Command, f *workerFlags) error {
	if f.slots < 1 {
		return badInput(fmt.Errorf("--slots %d: want at least 1", f.slots))
	}
	c, err := f.remote.client()
	if err != nil {
		return err
	}
	// Interrupted while it waits for its server, the worker just stops.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := execKubernetesWorker(ctx, cmd.ErrOrStderr(), c, f); err != nil {
		return workerErr(ctx, err)
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
	info := server.WorkerInfo{ID: fmt.Sprintf("%s-%d-%s", f.name, os.Getpid(), runtime.NewRunID()[:6]), Name: f.name, Slots: f.slots}
	pr := &procRunner{c: c, id: info.ID, grace: f.grace, cache: bundle.Cache{Dir: f.bundles}, log: cmd.ErrOrStderr(), exe: exe}
	if pr.work, err = os.MkdirTemp("", "wfsh-worker-"); err != nil {
		return err
	}
	defer os.RemoveAll(pr.work)
	fmt.Fprintf(cmd.OutOrStdout(), "wfsh worker %s: pool %s, %d slot(s), server %s\n", info.ID, f.pool, f.slots, c.Base)
	w := worker.New(worker.Config{API: c, Pool: f.pool, Info: info, Grace: f.grace, CancelOnDrain: true, Log: pr.log}, pr)
	return workerErr(ctx, w.Run(ctx))
}

// workerErr is how `wfsh worker` ends: nil when it was interrupted or
// drained, else exit status 1 and the error's one line (a token the
// server refused).
func workerErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("wfsh worker: %w", err)}
}

func (r *procRunner) logf(format string, args ...any) { worker.Logf(r.log, format, args...) }

// Start runs a claimed run in a child process, in a copy of its
// bundle's tree of its own (as a Prefect worker clones a run's code into
// a temporary directory): files a run writes beside its flow are seen by
// no other run, and the cache stays as it was unpacked.
func (r *procRunner) Start(ctx context.Context, cl server.Claimed) (worker.Run, error) {
	id := cl.Run.ID
	if _, err := r.bundle(ctx, cl.Bundle, id); err != nil {
		return nil, fmt.Errorf("the worker could not get the run's bundle: %v", err)
	}
	dir := filepath.Join(r.work, id)
	os.RemoveAll(dir) // an earlier attempt of the run on this worker
	if err := r.cache.Checkout(cl.Bundle, dir); err != nil {
		return nil, fmt.Errorf("the worker could not copy the run's bundle: %v", err)
	}
	cmd := exec.Command(r.exe, cl.RunArgs(filepath.Join(dir, cl.File))...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WFSH_SERVER="+r.c.Base, "WFSH_TOKEN="+r.c.Token, "WFSH_WORKER_ID="+r.id, "WFSH_RUN_ID="+id)
	out := prefixed(r.log, id)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the worker could not start the run's process: %v", err)
	}
	ch := &childRun{r: r, id: id, cmd: cmd, exited: make(chan struct{})}
	r.logf("run %s (%s): started, pid %d", id, cl.Run.Flow, cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		out.flush()
		os.RemoveAll(dir)
		// A child that ended without its final state (killed, out of
		// memory, a flow that does not build: any status but those of
		// a run that ended) leaves the run unfinished: it crashed. The
		// server leaves a run that did end as it is.
		switch code := cmd.ProcessState.ExitCode(); code {
		case exitSuccess, exitFailed, exitInterrupted:
		default:
			ch.crash = fmt.Sprintf("the run's process ended (%v) before the run ended", err)
		}
		r.logf("run %s: process ended (%v)", id, errOr(err))
		close(ch.exited)
	}()
	return ch, nil
}

func (ch *childRun) Wait() worker.End {
	<-ch.exited
	return worker.End{Crash: ch.crash}
}

// Cancel interrupts the run's process, and kills it after the grace.
func (ch *childRun) Cancel() {
	ch.r.logf("run %s: cancelled on the server; interrupting it", ch.id)
	ch.cmd.Process.Signal(os.Interrupt)
	go func() {
		select {
		case <-ch.exited:
		case <-time.After(ch.r.grace):
			ch.kill(fmt.Sprintf("it did not stop within %v of its interrupt", ch.r.grace))
		}
	}()
}

// Drop kills the run's process.
func (ch *childRun) Drop() { ch.kill("the server no longer gives this worker the run") }

func (ch *childRun) kill(why string) {
	select {
	case <-ch.exited:
		return
	default:
	}
	ch.r.logf("run %s: killing its process: %s", ch.id, why)
	syscall.Kill(-ch.cmd.Process.Pid, syscall.SIGKILL)
}

func errOr(err error) any {
	if err == nil {
		return "exit status 0"
	}
	return err
}

// bundle is the directory of a bundle, fetched (for the run that needs
// it: a worker may read only the bundles of runs it holds) and unpacked
// once.
func (r *procRunner) bundle(ctx context.Context, hash, runID string) (string, error) {
	if dir, ok := r.cache.Lookup(hash); ok {
		return dir, nil
	}
	var data []byte
	if err := r.c.Do(ctx, "GET", server.Query("/bundles/"+hash, "run", runID), nil, &data); err != nil {
		return "", err
	}
	return r.cache.Extract(hash, bytes.NewReader(data))
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
