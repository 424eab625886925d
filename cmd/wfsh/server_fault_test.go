package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/pgtest"
	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// restart starts the server again on its database, home and address
// (after a kill -9): its admin token is the one of its first start.
func (ps *procServer) restart(t *testing.T, db string, extra ...string) {
	t.Helper()
	addr := strings.TrimPrefix(ps.admin.Base, "http://")
	args := []string{"server", "--listen", addr, "--lease", "30s", "--leader-ttl", "2s"}
	if db != "" {
		args = append(args, "--db", db)
	}
	args = append(args, extra...)
	cmd := exec.Command(ps.bin, args...)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SECRET_KEY=")
	var log proctest.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ps.cmd = cmd
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("restarted server's log:\n%s", log.String())
		}
	})
}

// TestServerKilledMidRun: the server is killed with -9 while a run is
// Running and started again a few seconds later; the run completes,
// Success, its log whole: the worker's heartbeats and its child's writes
// carry on once the server answers again.
func TestServerKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server and worker processes")
	}
	t.Run("sqlite", func(t *testing.T) { serverKilledMidRun(t, "") })
	t.Run("postgres", func(t *testing.T) { serverKilledMidRun(t, pgtest.Start(t).NewDatabase(t)) })
}

func serverKilledMidRun(t *testing.T, db string) {
	ps := startServer(t, 30*time.Second, db)
	deploySteps(t, ps)
	ps.startWorker(t, ps.token(t, "worker", "default"), 1)
	// A user follows the run with --watch while the server dies and
	// comes back: the watch picks up where it was and exits as the run.
	watch := exec.Command(ps.bin, "run", "Steps/s", "--watch")
	watch.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+ps.admin.Token)
	var wout proctest.Buffer
	watch.Stdout, watch.Stderr = &wout, &wout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer watch.Process.Kill()
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(wout.String(), "line 1") }, "the watch to print the run's first line")
	id := regexp.MustCompile(`run (\S+) of Steps/s`).FindStringSubmatch(wout.String())[1]
	ps.cmd.Process.Signal(syscall.SIGKILL)
	ps.cmd.Wait()
	time.Sleep(3 * time.Second)
	ps.restart(t, db)
	r := ps.waitState(t, id, 30*time.Second, runtime.State.Finished)
	if r.State != runtime.Success {
		t.Fatalf("run ended %s after the server's restart, want Success", r.State)
	}
	done := make(chan error, 1)
	go func() { done <- watch.Wait() }()
	select {
	case err := <-done:
		if err != nil || strings.Count(wout.String(), "line 6") != 1 || strings.Count(wout.String(), "line 1") != 1 {
			t.Errorf("the watch across the restart: %v\n%s", err, wout.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the watch did not end with the run:\n%s", wout.String())
	}
	out, code := ps.wfsh(t, ps.admin.Token, "logs", id)
	for i := 1; i <= 6; i++ {
		if want := "line " + string(rune('0'+i)); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("logs after the restart lack %q (exit %d):\n%s", want, code, out)
		}
	}
}

// TestTwoServersLeader: two server processes on one PostgreSQL database.
// Both serve the API; one leads. Killed with -9, the leader's part passes
// to the other within its lease (2 s here), which goes on making the
// schedule's runs: no scheduled time is made twice.
func TestTwoServersLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	db := pgtest.Start(t).NewDatabase(t)
	a := startServer(t, 30*time.Second, db)
	var blog proctest.Buffer
	b := a.second(t, db, &blog)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tick.star"), []byte(`@task
def one():
    return 1

@flow(name="Tick", schedule=interval("2s"))
def tick():
    one()
`), 0o644)
	if out, code := a.wfsh(t, a.admin.Token, "deploy", filepath.Join(dir, "tick.star"), "--name", "t"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	// The other server answers the API on the same database.
	var list server.RunList
	waitFor(t, 10*time.Second, func() bool {
		return b.Do(context.Background(), "GET", "/runs?deployment=Tick/t", nil, &list) == nil && len(list.Runs) > 0
	}, "the scheduled runs, read from the second server")
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	killed := time.Now()
	// The newest run the killed leader made: a newer one can only be the
	// other server's.
	list = server.RunList{}
	if err := b.Do(context.Background(), "GET", "/runs?deployment=Tick/t&limit=1000", nil, &list); err != nil {
		t.Fatal(err)
	}
	last := latest(list.Runs)
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(blog.String(), "leading") }, "the second server to lead")
	waitFor(t, 15*time.Second, func() bool {
		list = server.RunList{}
		b.Do(context.Background(), "GET", "/runs?deployment=Tick/t&limit=1000", nil, &list)
		return latest(list.Runs).After(last)
	}, "the second server to make runs after the first was killed")
	t.Logf("the second server made a new scheduled run %v after the leader's kill", time.Since(killed).Round(100*time.Millisecond))
	seen := map[time.Time]bool{}
	for _, r := range list.Runs {
		at := r.Scheduled.At
		if seen[at] {
			t.Errorf("scheduled time %v made twice", at)
		}
		seen[at] = true
	}
}

// second starts another server on ps's database, with ps's admin token.
func (ps *procServer) second(t *testing.T, db string, log *proctest.Buffer) *server.Client {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(ps.bin, "server", "--listen", addr, "--db", db, "--leader-ttl", "2s")
	cmd.Env = append(os.Environ(), "WFSH_HOME="+t.TempDir(), "WFSH_SECRET_KEY=")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	c := &server.Client{Base: "http://" + addr, Token: ps.admin.Token}
	waitFor(t, 10*time.Second, func() bool { return c.Do(context.Background(), "GET", "/pools", nil, nil) == nil }, "the second server")
	return c
}

func latest(runs []store.Run) time.Time {
	var t time.Time
	for _, r := range runs {
		if r.Scheduled != nil && r.Scheduled.At.After(t) {
			t = r.Scheduled.At
		}
	}
	return t
}

// TestDatabaseOutage: PostgreSQL goes down for 10 s while a run is
// Running (stopped as by a crash, then started again on its data). The
// server, the worker and the run's process carry on: the run completes
// Success with its whole log, and a run made after comes through, each
// once.
func TestDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server and worker processes and stops a database")
	}
	c := pgtest.Start(t)
	db := c.NewDatabase(t)
	ps := startServer(t, 30*time.Second, db)
	deploySteps(t, ps)
	_, wlog := ps.startWorker(t, ps.token(t, "worker", "default"), 1)
	id := strings.TrimSpace(mustRun(t, ps, ps.admin.Token, "run", "Steps/s"))
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(wlog.String(), "line 1") }, "the run to start")
	if err := c.Outage(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	r := ps.waitState(t, id, 60*time.Second, runtime.State.Finished)
	if r.State != runtime.Success {
		t.Fatalf("the run ended %s after the outage, want Success", r.State)
	}
	out, code := ps.wfsh(t, ps.admin.Token, "logs", id)
	for i := 1; i <= 6; i++ {
		if want := "line " + string(rune('0'+i)); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("logs after the outage lack %q (exit %d):\n%s", want, code, out)
		}
	}
	out, code = ps.wfsh(t, ps.admin.Token, "run", "Steps/s", "--watch")
	if code != 0 || !strings.Contains(out, "line 6") {
		t.Fatalf("a run after the outage: exit %d\n%s", code, out)
	}
	if n := countStateTB(t, ps, runtime.Success); n != 2 {
		t.Errorf("%d runs succeeded, want 2 (each once)", n)
	}
}

// deploySteps deploys Steps/s: a flow whose one task prints "line 1" to
// "line 6", half a second apart.
func deploySteps(t *testing.T, ps *procServer) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "steps.star"), []byte(`load("@shell", "shell_task")

step = shell_task(name="step", command="for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done")

@flow(name="Steps")
def steps():
    step()
`), 0o644)
	if out, code := ps.wfsh(t, ps.admin.Token, "deploy", filepath.Join(dir, "steps.star"), "--name", "s"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
}

// TestWorkerDrains: SIGTERM to a worker with a run in progress: it
// claims nothing more, lets the run finish (Success) within its grace,
// and exits 0; the run queued meanwhile waits for another worker.
func TestWorkerDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server and worker processes")
	}
	ps := startServer(t, 30*time.Second, "")
	deploySteps(t, ps)
	tok := ps.token(t, "worker", "default")
	cmd := exec.Command(ps.bin, "worker", "--pool", "default", "--grace", "20s")
	cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+tok)
	var log proctest.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	first := strings.TrimSpace(mustRun(t, ps, ps.admin.Token, "run", "Steps/s"))
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(log.String(), "line 1") }, "the run to start")
	cmd.Process.Signal(syscall.SIGTERM)
	second := strings.TrimSpace(mustRun(t, ps, ps.admin.Token, "run", "Steps/s"))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the drained worker exited: %v\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the worker did not exit within its grace:\n%s", log.String())
	}
	if r := ps.waitState(t, first, time.Second, runtime.State.Finished); r.State != runtime.Success {
		t.Errorf("the run in progress ended %s, want Success", r.State)
	}
	if r := ps.waitState(t, second, time.Second, func(runtime.State) bool { return true }); r.State != runtime.Scheduled {
		t.Errorf("the run made while draining is %s, want Scheduled (not claimed)", r.State)
	}
	// No worker holds it: a cancel ends it at once.
	if out, code := ps.wfsh(t, ps.admin.Token, "cancel", second); code != 0 || !strings.Contains(out, "Cancelled") {
		t.Errorf("cancel of a Scheduled run: exit %d %s", code, out)
	}
}
