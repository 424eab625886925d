package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/pgtest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

const serverMonth = `
@task
def fetch(day):
    print("fetching", day)
    if day == "bad":
        fail("no data for " + day)
    return [day]

@task
def count(rows):
    return len(rows)

@flow(name="Daily")
def daily(day):
    return count(fetch(day))

@task
def days(given):
    return given

@task
def total(xs):
    return sum(xs)

@flow(name="Month")
def month(given=["d1", "d2"]):
    one = daily("d0")
    return total(daily.map(days(given)), upstream_tasks=[one])
`

const serverNested = `
load("@shell", "shell_task")

sleepy = shell_task(name="sleepy", command="echo started; sleep 30")

@flow(name="Inner")
def inner():
    sleepy()

@flow(name="Outer")
def outer():
    inner()
`

// TestSubflowsInServerRun: a deployment's run whose flow calls flows
// records each child flow run on the server, as a local run does in its
// store: a run of its own (its parent, the subflow's task run, its
// task runs, its log), listed under its parent; a failing child fails
// its parent. Cancelled, the parent's child run is Cancelled with it;
// its worker killed with -9, the child run ends Crashed with the
// parent, not Running forever.
func TestSubflowsInServerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	ctx := context.Background()
	ps := startServer(t, 2*time.Second, "")
	dev := ps.token(t, "developer", "")
	worker, _ := ps.startWorker(t, ps.token(t, "worker", "default"), 2)
	dir := t.TempDir()
	for name, src := range map[string]string{"month.star": serverMonth, "nested.star": serverNested} {
		p := filepath.Join(dir, strings.TrimSuffix(name, ".star"), name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, code := ps.wfsh(t, dev, "deploy", p, "--name", "d"); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", name, code, out)
		}
	}
	children := func(parent string) []store.Run {
		t.Helper()
		var list server.RunList
		if err := ps.admin.Do(ctx, "GET", server.Query("/runs", "parent", parent), nil, &list); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(list.Runs, func(a, b store.Run) int { return strings.Compare(a.ParentTaskRun, b.ParentTaskRun) })
		return list.Runs
	}
	run := func(dep string, params map[string]json.RawMessage) store.Run {
		t.Helper()
		var r store.Run
		if err := ps.admin.Do(ctx, "POST", "/deployments/"+dep+"/runs", server.RunRequest{Parameters: params}, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	month := run("Month/d", nil)
	if r := ps.waitState(t, month.ID, 60*time.Second, runtime.State.Finished); r.State != runtime.Success {
		out, _ := ps.wfsh(t, dev, "logs", month.ID)
		t.Fatalf("Month ended %s: %s\n%s", r.State, r.Message, out)
	}
	kids := children(month.ID)
	var got []string
	for _, k := range kids {
		got = append(got, k.Flow+" "+k.ParentTaskRun+" "+k.State.String()+" "+string(k.Parameters))
		if k.SubflowOf != month.ID || k.Server == nil || k.Server.Deployment != month.Server.Deployment || k.FinishedAt.IsZero() {
			t.Errorf("child run %s: subflow of %q, %+v", k.ID, k.SubflowOf, k.Server)
		}
	}
	want := []string{`Daily Daily Success {"day":"d0"}`, `Daily Daily-2[0] Success {"day":"d1"}`, `Daily Daily-2[1] Success {"day":"d2"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("Month's child runs on the server:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var detail server.RunDetail
	if err := ps.admin.Do(ctx, "GET", "/runs/"+kids[1].ID, nil, &detail); err != nil {
		t.Fatal(err)
	}
	var tasks []string
	for _, tr := range detail.TaskRuns {
		tasks = append(tasks, tr.Name+" "+tr.State.String())
	}
	if !slices.Equal(tasks, []string{"day Success", "fetch Success", "count Success"}) {
		t.Errorf("child run %s's task runs: %q", kids[1].ID, tasks)
	}
	if out, code := ps.wfsh(t, dev, "logs", kids[1].ID); code != 0 || !strings.Contains(out, "fetching d1") || strings.Contains(out, "fetching d2") {
		t.Errorf("wfsh logs of child run %s: exit %d\n%s", kids[1].ID, code, out)
	}
	// wfsh logs of an ended run copies the server's log as text; with
	// --follow it formats the run's events itself: the same lines, the
	// run's own (--no-children: the text has its child runs' too).
	for _, args := range [][]string{{month.ID}, {month.ID, "--log-level", "debug"}, {month.ID, "--task", "total"}, {kids[2].ID}} {
		args = append(args, "--no-children")
		text, code := ps.wfsh(t, dev, append([]string{"logs"}, args...)...)
		events, code2 := ps.wfsh(t, dev, append([]string{"logs", "--follow"}, args...)...)
		if code != 0 || code2 != 0 || text != events || strings.Count(text, "\n") < 3 {
			t.Errorf("wfsh logs %s: exit %d, with --follow exit %d; the two differ:\n%s\n--- --follow:\n%s", strings.Join(args, " "), code, code2, text, events)
		}
	}
	// Without --no-children, the child runs' lines are nested in the
	// run's, as its process printed them.
	text, code := ps.wfsh(t, dev, "logs", month.ID)
	for _, want := range []string{"INFO - wfsh.FlowRunner | Subflow 'Daily-2[1]': Beginning Flow run for 'Daily'\n",
		"INFO - wfsh.Daily-2[1]/fetch | fetching d2\n", "INFO - wfsh.Daily/fetch | fetching d0\n",
		"Task 'Daily/count': Finished task run for task with final state: 'Success'\n"} {
		if code != 0 || !strings.Contains(text, want) {
			t.Errorf("wfsh logs %s: exit %d, lacks %q:\n%s", month.ID, code, want, text)
		}
	}
	if out, _ := ps.wfsh(t, dev, "show", month.ID); strings.Count(out, "Daily") < 3 {
		t.Errorf("wfsh show of Month lists not its child runs:\n%s", out)
	}

	bad := run("Month/d", map[string]json.RawMessage{"given": json.RawMessage(`["d1", "bad"]`)})
	if r := ps.waitState(t, bad.ID, 60*time.Second, runtime.State.Finished); r.State != runtime.Failed {
		t.Errorf("Month with a bad day ended %s, want Failed", r.State)
	}
	if kids := children(bad.ID); len(kids) != 3 || kids[2].State != runtime.Failed || string(kids[2].Parameters) != `{"day":"bad"}` {
		t.Errorf("the bad day's child run: %+v", kids)
	} else if out, _ := ps.wfsh(t, dev, "logs", kids[2].ID); !strings.Contains(out, "no data for bad") {
		t.Errorf("the bad day's log:\n%s", out)
	}

	// Cancelled while its child runs: both end Cancelled.
	outer := run("Outer/d", nil)
	var inner store.Run
	waitFor(t, 30*time.Second, func() bool {
		kids := children(outer.ID)
		if len(kids) == 1 && kids[0].State == runtime.Running {
			inner = kids[0]
			return true
		}
		return false
	}, "Outer's child run to start")
	if out, code := ps.wfsh(t, dev, "cancel", outer.ID); code != 0 {
		t.Fatalf("cancel: exit %d\n%s", code, out)
	}
	for _, id := range []string{outer.ID, inner.ID} {
		if r := ps.waitState(t, id, 30*time.Second, runtime.State.Finished); r.State != runtime.Cancelled {
			t.Errorf("run %s (%s) ended %s, want Cancelled: %s", id, r.Flow, r.State, r.Message)
		}
	}

	// The worker dies: the parent is Crashed when its lease lapses, and
	// its child run with it.
	outer = run("Outer/d", nil)
	waitFor(t, 30*time.Second, func() bool {
		kids := children(outer.ID)
		if len(kids) == 1 && kids[0].State == runtime.Running {
			inner = kids[0]
			return true
		}
		return false
	}, "Outer's child run to start")
	worker.Process.Kill()
	if r := ps.waitState(t, outer.ID, 30*time.Second, runtime.State.Finished); r.State != runtime.Crashed {
		t.Errorf("Outer ended %s, want Crashed: %s", r.State, r.Message)
	}
	if r := ps.waitState(t, inner.ID, 5*time.Second, runtime.State.Finished); r.State != runtime.Crashed ||
		r.Message != "crashed: its parent run "+outer.ID+" ended Crashed before it did" {
		t.Errorf("Inner ended %s %q, want Crashed with its parent", r.State, r.Message)
	}
}

// TestSubflowsResumedInServerRun: a server's run resumed (wfsh resume)
// resumes inside its subflows' child runs, as deep as they go, as
// `wfsh run --resume` does with a local store: Outer calls Mid, which
// calls Inner, whose second task fails until it is fixed. The resumed
// run's child runs each resume the matching child run of the run it
// resumes (resumed_from), Inner's first task is taken (Cached, not run
// again: it counts its runs in a file) and its second runs again.
func TestSubflowsResumedInServerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	t.Run("sqlite", func(t *testing.T) { subflowsResumed(t, "") })
	t.Run("postgres", func(t *testing.T) { subflowsResumed(t, pgtest.Start(t).NewDatabase(t)) })
}

func subflowsResumed(t *testing.T, db string) {
	ctx := context.Background()
	ps := startServer(t, 2*time.Second, db)
	dev := ps.token(t, "developer", "")
	_, wlog := ps.startWorker(t, ps.token(t, "worker", "default"), 1)
	flowDir, dataDir := t.TempDir(), t.TempDir()
	src := strings.ReplaceAll(`load("@shell", "shell_task")

first = shell_task(name="first", command="echo ran >> DATA/count; echo 41")
second = shell_task(name="second", command="test -e DATA/fixed && echo fixed")

@task
def plus_one(n):
    return int(n) + 1

@flow(name="Inner")
def inner():
    m = plus_one(first())
    second(upstream_tasks=[m])

@flow(name="Mid")
def mid():
    inner()

@flow(name="Outer")
def outer():
    mid()
`, "DATA", dataDir)
	p := filepath.Join(flowDir, "outer.star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := ps.wfsh(t, dev, "deploy", p, "--name", "d"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	firstRuns := func() int {
		b, _ := os.ReadFile(filepath.Join(dataDir, "count"))
		return strings.Count(string(b), "\n")
	}
	// chain is the run's child run and that one's: Mid's and Inner's.
	chain := func(id string) []store.Run {
		t.Helper()
		var runs []store.Run
		for range 2 {
			var list server.RunList
			if err := ps.admin.Do(ctx, "GET", server.Query("/runs", "parent", id), nil, &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Runs) != 1 {
				t.Fatalf("run %s has %d child runs, want 1: %+v", id, len(list.Runs), list.Runs)
			}
			runs = append(runs, list.Runs[0])
			id = list.Runs[0].ID
		}
		return runs
	}

	// lastOuter is the newest run of Outer: the newest run of the server
	// may be one of its child runs.
	lastOuter := func(st runtime.State) store.Run {
		t.Helper()
		var list server.RunList
		if err := ps.admin.Do(ctx, "GET", "/runs?limit=1&flow=Outer", nil, &list); err != nil || len(list.Runs) != 1 {
			t.Fatalf("the newest run of Outer: %v, %v", list.Runs, err)
		}
		if r := list.Runs[0]; r.State != st {
			t.Fatalf("the newest run of Outer %s is %s (%s), want %s", r.ID, r.State, r.Message, st)
		}
		return list.Runs[0]
	}

	out, code := ps.wfsh(t, dev, "run", "Outer/d", "--watch")
	if code != exitFailed || firstRuns() != 1 {
		t.Fatalf("the first run: exit %d, want %d; first ran %d times\n%s", code, exitFailed, firstRuns(), out)
	}
	failed := lastOuter(runtime.Failed)
	was := chain(failed.ID)
	if was[0].Flow != "Mid" || was[1].Flow != "Inner" || was[1].State != runtime.Failed {
		t.Fatalf("the failed run's child runs: %+v", was)
	}

	if err := os.WriteFile(filepath.Join(dataDir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = ps.wfsh(t, dev, "resume", failed.ID, "--watch")
	if code != exitSuccess || !strings.Contains(out, "Flow run SUCCESS") {
		t.Fatalf("resume --watch: exit %d, want 0\n%s", code, out)
	}
	if n := firstRuns(); n != 1 {
		t.Errorf("Inner's first ran %d times: the resumed run ran it again", n)
	}
	resumed := lastOuter(runtime.Success)
	if resumed.ResumedFrom != failed.ID {
		t.Errorf("the resumed run resumes %q, want %s", resumed.ResumedFrom, failed.ID)
	}
	now := chain(resumed.ID)
	for i, r := range now {
		if r.State != runtime.Success || r.ResumedFrom != was[i].ID || r.Flow != was[i].Flow {
			t.Errorf("child run %s (%s): %s, resumes %q, want Success resuming %s", r.ID, r.Flow, r.State, r.ResumedFrom, was[i].ID)
		}
	}
	var d server.RunDetail
	if err := ps.admin.Do(ctx, "GET", "/runs/"+now[1].ID, nil, &d); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tr := range d.TaskRuns {
		got[tr.Name] = tr.State.String()
		if tr.State == runtime.Cached {
			got[tr.Name] += " " + tr.Message
		}
	}
	msg := "resumed: result of run " + was[1].ID
	// wfsh logs prints what the run's process printed (the worker's log
	// has it, each line after the run's short id): the run's lines with
	// its child runs' nested in them.
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(wlog.String(), "run "+resumed.ID+": process ended") },
		"the worker to see the resumed run's process end")
	var printed strings.Builder
	for line := range strings.Lines(wlog.String()) {
		if rest, ok := strings.CutPrefix(line, "["+resumed.ID[:8]+"] "); ok {
			printed.WriteString(rest)
		}
	}
	if text, code := ps.wfsh(t, dev, "logs", resumed.ID); code != 0 || text != printed.String() || !strings.Contains(text, "Task 'Mid/Inner/first': Finished task run for task with final state: 'Cached'") {
		t.Errorf("wfsh logs %s: exit %d\n%s\nwant what its process printed:\n%s", resumed.ID, code, text, printed.String())
	}
	want := map[string]string{"first": "Cached " + msg, "plus_one": "Cached " + msg, "second": "Success"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("Inner's task run %s: %q, want %q", name, got[name], w)
		}
	}
}
