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
	// --follow it formats the run's events itself: the same lines.
	for _, args := range [][]string{{month.ID}, {month.ID, "--log-level", "debug"}, {month.ID, "--task", "total"}, {kids[2].ID}} {
		text, code := ps.wfsh(t, dev, append([]string{"logs"}, args...)...)
		events, code2 := ps.wfsh(t, dev, append([]string{"logs", "--follow"}, args...)...)
		if code != 0 || code2 != 0 || text != events || strings.Count(text, "\n") < 3 {
			t.Errorf("wfsh logs %s: exit %d, with --follow exit %d; the two differ:\n%s\n--- --follow:\n%s", strings.Join(args, " "), code, code2, text, events)
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
