package main

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/pgtest"
	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
)

// TestCancelEachState: `wfsh cancel` of a run in each state that is not
// final ends Cancelled, with real server and worker processes and a 2 s
// lease:
//   - Scheduled (no worker holds it): Cancelled at once;
//   - Pending, held by a worker that then says nothing (played by the
//     test through the API: a real worker leaves Pending within
//     milliseconds): Cancelling, told to the holder by its heartbeat,
//     then Cancelled by the server once the lease lapses; a worker started
//     afterwards does not run it;
//   - Running, whose process does not stop when interrupted (stopped with
//     SIGSTOP): Cancelling until the worker's grace (2 s) has passed, then
//     the worker kills it and the run ends Cancelled, not Crashed, with
//     nothing of it left running.
//
// (A Running run whose process stops when asked: TestServerAndWorker.)
func TestCancelEachState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	t.Run("sqlite", func(t *testing.T) { cancelEachState(t, "") })
	t.Run("postgres", func(t *testing.T) { cancelEachState(t, pgtest.Start(t).NewDatabase(t)) })
}

func cancelEachState(t *testing.T, db string) {
	ctx := context.Background()
	const lease = 2 * time.Second
	ps := startServer(t, lease, db)
	dev, wtok := ps.token(t, "developer", ""), ps.token(t, "worker", "default")
	dir := sleepyFlow(t)
	if out, code := ps.wfsh(t, dev, "deploy", dir+"/slow.star", "--name", "s"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	state := func(id string) runtime.State {
		t.Helper()
		var r server.RunDetail
		if err := ps.admin.Do(ctx, "GET", "/runs/"+id, nil, &r); err != nil {
			t.Fatal(err)
		}
		return r.Run.State
	}
	cancel := func(id, want string) {
		t.Helper()
		if out, code := ps.wfsh(t, dev, "cancel", id); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("cancel %s: exit %d, want %q in\n%s", id, code, want, out)
		}
	}

	// Scheduled: no worker yet.
	scheduled := strings.TrimSpace(mustRun(t, ps, dev, "run", "Slow/s"))
	if st := state(scheduled); st != runtime.Scheduled {
		t.Fatalf("a run with no worker is %s, want Scheduled", st)
	}
	cancel(scheduled, "Cancelled")
	if st := state(scheduled); st != runtime.Cancelled {
		t.Fatalf("a cancelled Scheduled run is %s, want Cancelled at once", st)
	}

	// Pending: claimed by a worker that goes silent.
	pending := strings.TrimSpace(mustRun(t, ps, dev, "run", "Slow/s"))
	silent := &server.Client{Base: ps.admin.Base, Token: wtok}
	info := server.WorkerInfo{ID: "silent", Name: "silent", Slots: 1}
	var claimed []server.Claimed
	if err := silent.Do(ctx, "POST", "/pools/default/claim", server.ClaimRequest{Worker: info, Max: 1, WaitMS: 5000}, &claimed); err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].Run.ID != pending {
		t.Fatalf("claim: %+v, want run %s", claimed, pending)
	}
	if st := state(pending); st != runtime.Pending {
		t.Fatalf("a claimed run is %s, want Pending", st)
	}
	cancel(pending, "Cancelling")
	var hb server.HeartbeatReply
	if err := silent.Do(ctx, "POST", "/pools/default/heartbeat", server.Heartbeat{Worker: info, Runs: []string{pending}}, &hb); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hb.Cancel, []string{pending}) {
		t.Errorf("the holder's heartbeat says cancel %v, want [%s]", hb.Cancel, pending)
	}
	told := time.Now()
	r := ps.waitState(t, pending, lease+5*time.Second, runtime.State.Finished)
	if r.State != runtime.Cancelled {
		t.Fatalf("a cancelled Pending run whose worker went silent ended %s, want Cancelled", r.State)
	}
	t.Logf("Pending -> Cancelled %v after the holder's last heartbeat (lease %v)", time.Since(told).Round(100*time.Millisecond), lease)

	// Running, and deaf to its interrupt.
	worker, wlog := ps.startWorker(t, wtok, 1)
	running := strings.TrimSpace(mustRun(t, ps, dev, "run", "Slow/s"))
	ps.waitState(t, running, 10*time.Second, func(s runtime.State) bool { return s == runtime.Running })
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(wlog.String(), "started") }, "the task to start")
	if st := state(pending); st != runtime.Cancelled {
		t.Errorf("the cancelled Pending run is %s once a worker runs", st)
	}
	children := childPIDs(worker.Process.Pid)
	if len(children) != 1 {
		t.Fatalf("the worker has %d child processes, want 1", len(children))
	}
	// The run's process and what it started (plugin, bash, sleep).
	group := descendants(children[0])
	if len(group) < 3 {
		t.Fatalf("the run's process and its descendants: %v, want wfsh, its plugin and bash at least", group)
	}
	if err := syscall.Kill(children[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cancel(running, "Cancelling")
	asked := time.Now()
	time.Sleep(time.Second)
	if st := state(running); st != runtime.Cancelling {
		t.Errorf("1 s after cancel, a run whose process cannot stop is %s, want Cancelling (grace 2 s)", st)
	}
	r = ps.waitState(t, running, 2*time.Second+lease+5*time.Second, runtime.State.Finished)
	if r.State != runtime.Cancelled {
		t.Errorf("a run killed after its grace ended %s, want Cancelled", r.State)
	}
	t.Logf("Cancelling -> Cancelled %v after cancel (grace 2s)", time.Since(asked).Round(100*time.Millisecond))
	proctest.CheckGone(t, group, 5*time.Second, "the worker's kill after the grace")
	if !strings.Contains(wlog.String(), "did not stop within") {
		t.Errorf("the worker's log does not say why it killed the run:\n%s", wlog.String())
	}
}

// descendants are pid and every process below it.
func descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, childPIDs(out[i])...)
	}
	return out
}
