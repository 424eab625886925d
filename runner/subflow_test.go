package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
	"github.com/wfsh/wfsh/store"
)

const subflowSrc = `
@task
def extract(day):
    print("rows of", day)
    return [day]

@task(tags=["db"])
def count(rows):
    return len(rows)

@flow
def daily_report(day, scale=2):
    return count(extract(day))

@task
def days(n):
    return ["d%d" % i for i in range(n)]

@task
def total(xs):
    return sum(xs)

@flow(name="Month")
def month(n=2):
    return total(daily_report.map(days(n)))
`

// TestSubflowRecorded runs a flow mapping a subflow with the store on:
// each child flow run is a run of the store, with its parent, its
// parameters, its task runs and its log, and the parent's events reach
// the caller's sink with the children's.
func TestSubflowRecorded(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenStore(filepath.Join(dir, "wfsh.db"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, st)
	path := filepath.Join(dir, "month.star")
	if err := os.WriteFile(path, []byte(subflowSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	fl, err := r.Load(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := r.Prepare(ctx, fl, Request{Params: map[string]json.RawMessage{"n": json.RawMessage("3")}})
	if err != nil {
		t.Fatal(err)
	}
	var rec runtimetest.Recorder
	res := run.Execute(ctx, &rec)
	if res.State != runtime.Success || res.Tasks[len(res.Tasks)-1].Value == nil {
		t.Fatalf("run: %s %s", res.State, res.Msg)
	}
	children := map[string]bool{}
	for _, e := range rec.Events() {
		if e.Parent != "" {
			if e.Parent != run.ID {
				t.Fatalf("event of a child run with parent %q, want %q", e.Parent, run.ID)
			}
			children[e.RunID] = true
		}
	}
	if len(children) != 3 {
		t.Fatalf("events of %d child runs, want 3", len(children))
	}
	s, err := st.Open()
	if err != nil {
		t.Fatal(err)
	}
	kids, err := s.ChildRuns(ctx, run.ID)
	if err != nil || len(kids) != 3 {
		t.Fatalf("child runs in the store: %d, %v; want 3", len(kids), err)
	}
	for _, k := range kids {
		if !children[k.ID] || k.Flow != "daily_report" || k.State != runtime.Success || k.File != path {
			t.Errorf("child run %+v", k)
		}
		var params map[string]any
		if err := json.Unmarshal(k.Parameters, &params); err != nil || params["scale"] != 2.0 || params["day"] == nil {
			t.Errorf("child %s parameters %s: %v", k.ID, k.Parameters, err)
		}
		trs, err := s.TaskRuns(ctx, k.ID)
		if err != nil || len(trs) < 2 {
			t.Fatalf("task runs of child %s: %+v, %v", k.ID, trs, err)
		}
	}
	top, err := s.ListRuns(ctx, store.RunFilter{TopLevel: true})
	if err != nil || len(top) != 1 || top[0].ID != run.ID {
		t.Errorf("top-level runs %+v, %v", top, err)
	}
}

const cachedSubflowSrc = `
@task(cache_for="1h")
def slow(x):
    print("computing", x)
    return x * 2

@flow
def child(x):
    return slow(x)

@task
def xs():
    return [1, 2]

@flow(name="Parent")
def parent():
    child.map(xs())
`

// TestSubflowCache runs a flow whose subflow has a cached task twice with
// the store: the second run's child runs take the first's results.
func TestSubflowCache(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenStore(filepath.Join(dir, "wfsh.db"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, st)
	path := filepath.Join(dir, "p.star")
	if err := os.WriteFile(path, []byte(cachedSubflowSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	fl, err := r.Load(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []runtime.State{runtime.Success, runtime.Cached} {
		run, err := r.Prepare(ctx, fl, Request{})
		if err != nil {
			t.Fatal(err)
		}
		var rec runtimetest.Recorder
		if res := run.Execute(ctx, &rec); res.State != runtime.Success {
			t.Fatalf("run %d: %s %s", i+1, res.State, res.Msg)
		}
		n := 0
		for _, e := range rec.Events() {
			if e.Parent != "" && e.Kind == runtime.TaskState && e.TaskRun == "slow" && e.State.Finished() {
				n++
				if e.State != want {
					t.Errorf("run %d: slow of child run %s ended %s, want %s", i+1, e.RunID, e.State, want)
				}
			}
		}
		if n != 2 {
			t.Errorf("run %d: %d child runs' slow ended, want 2", i+1, n)
		}
	}
}
