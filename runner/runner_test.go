package runner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
	"github.com/wfsh/wfsh/store"
)

const flowSrc = `
@task
def numbers(n):
    return list(range(n))

@task
def inv(x):
    if x == BAD:
        fail("bad element")
    return 12 // (x + 1)

@task
def total(xs):
    return sum(xs)

@flow(name="Inv")
def f(n=3):
    total(inv.map(numbers(n)))
`

func writeFlow(t *testing.T, dir, bad string) string {
	t.Helper()
	p := filepath.Join(dir, "inv.star")
	src := "BAD = " + bad + "\n" + flowSrc
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestRunner(t *testing.T, st *Store) *Runner {
	r := New(Options{Plugins: host.Options{}, Level: runtime.Info, Stderr: os.Stderr, Store: st, Concurrency: 2})
	t.Cleanup(r.Close)
	return r
}

// TestRunAndResume runs a flow that fails on one mapped element, then
// resumes it once fixed: the run is recorded with its parameters, and the
// resuming run takes what succeeded.
func TestRunAndResume(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenStore(filepath.Join(dir, "wfsh.db"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, st)
	path := writeFlow(t, dir, "1")
	fl, err := r.Load(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := r.Prepare(ctx, fl, Request{Params: map[string]json.RawMessage{"n": json.RawMessage("3")}})
	if err != nil {
		t.Fatal(err)
	}
	var rec runtimetest.Recorder
	if res := run.Execute(ctx, &rec); res.State != runtime.Failed {
		t.Fatalf("first run: %v, want Failed", res.State)
	}
	if got := rec.States("inv[1]"); !slices.Contains(got, runtime.Failed) {
		t.Errorf("inv[1] went through %v, want Failed", got)
	}

	// Fixed, and resumed: numbers and inv[0], inv[2] are taken.
	writeFlow(t, dir, "-5")
	fl, err = r.Load(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	from, err := r.Resumed(ctx, run.ID[:8])
	if err != nil {
		t.Fatal(err)
	}
	if from.Flow() != "Inv" || from.ID() != run.ID {
		t.Errorf("Resumed: flow %q id %s, want Inv %s", from.Flow(), from.ID(), run.ID)
	}
	run2, err := r.Prepare(ctx, fl, Request{Resume: from})
	if err != nil {
		t.Fatal(err)
	}
	var rec2 runtimetest.Recorder
	res := run2.Execute(ctx, &rec2)
	if res.State != runtime.Success {
		t.Fatalf("resumed run: %v, want Success", res.State)
	}
	for name, want := range map[string]runtime.State{"numbers": runtime.Cached, "inv[0]": runtime.Cached,
		"inv[1]": runtime.Success, "inv[2]": runtime.Cached, "total": runtime.Success} {
		got := rec2.States(name)
		if len(got) == 0 || got[len(got)-1] != want {
			t.Errorf("%s: states %v, want it to end %v", name, got, want)
		}
	}
	db, err := st.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetRun(ctx, run2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResumedFrom != run.ID || got.State != runtime.Success || !sameJSON(got.Parameters, json.RawMessage(`{"n":3}`)) {
		t.Errorf("recorded run: resumed from %q, %v, parameters %s", got.ResumedFrom, got.State, got.Parameters)
	}
}

// TestPrepareBadInput: a flow that does not build and a resume that
// cannot be are InputErrors, and nothing is recorded for them.
func TestPrepareBadInput(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenStore(filepath.Join(dir, "wfsh.db"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, st)
	fl, err := r.Load(writeFlow(t, dir, "1"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ie *InputError
	if _, err := r.Prepare(ctx, fl, Request{Params: map[string]json.RawMessage{"n": json.RawMessage(`"x"`)}}); !errors.As(err, &ie) {
		t.Errorf("Prepare with a string for an int parameter: %v, want an InputError", err)
	}
	if _, err := r.Resumed(ctx, "nope"); !errors.As(err, &ie) {
		t.Errorf("Resumed(nope): %v, want an InputError", err)
	}
	if _, err := r.Load(filepath.Join(dir, "missing.star"), "", nil); !errors.As(err, &ie) {
		t.Errorf("Load of a missing file: %v, want an InputError", err)
	}
	noStore := newTestRunner(t, nil)
	if _, err := noStore.Resumed(ctx, "abc"); !errors.As(err, &ie) {
		t.Errorf("Resumed without a store: %v, want an InputError", err)
	}
	db, err := st.Open()
	if err != nil {
		t.Fatal(err)
	}
	runs, err := db.ListRuns(ctx, store.RunFilter{})
	if err != nil || len(runs) != 0 {
		t.Errorf("runs recorded: %v, %v; want none", runs, err)
	}
}

// TestCancel: cancelling the context ends the run Cancelled, recorded so.
func TestCancel(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(filepath.Join(dir, "wfsh.db"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, st)
	p := filepath.Join(dir, "loop.star")
	src := "@task\ndef spin():\n    n = 0\n    while True:\n        n += 1\n\n@flow\ndef f():\n    spin()\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	fl, err := r.Load(p, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run, err := r.Prepare(ctx, fl, Request{})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once bool
	sink := runtime.SinkFunc(func(e runtime.Event) {
		if e.State == runtime.Running && !once {
			once = true
			close(started)
		}
	})
	go func() { <-started; cancel() }()
	if res := run.Execute(ctx, sink); res.State != runtime.Cancelled {
		t.Fatalf("cancelled run: %v, want Cancelled", res.State)
	}
	db, _ := st.Open()
	got, err := db.GetRun(context.Background(), run.ID)
	if err != nil || got.State != runtime.Cancelled {
		t.Errorf("recorded: %v %v, want Cancelled", got.State, err)
	}
}

// TestResumeWithoutStore: a run with no store (a server worker's child)
// resumes a run from its graph and task runs as the server gives them
// (ResumedOf): the mapped children that succeeded are taken one by one,
// the rest run; a resumed run that never started (no graph) runs whole.
func TestResumeWithoutStore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenStore(filepath.Join(dir, "wfsh.db"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFlow(t, dir, "1")
	r := newTestRunner(t, st)
	fl, err := r.Load(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]json.RawMessage{"n": json.RawMessage("3")}
	run, err := r.Prepare(ctx, fl, Request{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if res := run.Execute(ctx, &runtimetest.Recorder{}); res.State != runtime.Failed {
		t.Fatalf("first run: %v, want Failed", res.State)
	}
	db, err := st.Open()
	if err != nil {
		t.Fatal(err)
	}
	old, err := db.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	dag, err := db.RunDAG(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := db.TaskRuns(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}

	writeFlow(t, dir, "-5")
	remote := newTestRunner(t, nil)
	for _, c := range []struct {
		name string
		dag  store.DAG
		want map[string]runtime.State
	}{
		{"its graph and task runs", dag, map[string]runtime.State{"numbers": runtime.Cached, "inv[0]": runtime.Cached,
			"inv[1]": runtime.Success, "inv[2]": runtime.Cached, "total": runtime.Success}},
		{"no graph: it never started", nil, map[string]runtime.State{"numbers": runtime.Success, "inv[0]": runtime.Success,
			"inv[1]": runtime.Success, "inv[2]": runtime.Success, "total": runtime.Success}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fl, err := remote.Load(path, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			from, err := ResumedOf(old, c.dag, trs)
			if err != nil {
				t.Fatal(err)
			}
			run2, err := remote.Prepare(ctx, fl, Request{Params: params, Resume: from})
			if err != nil {
				t.Fatal(err)
			}
			var rec runtimetest.Recorder
			if res := run2.Execute(ctx, &rec); res.State != runtime.Success {
				t.Fatalf("resumed run: %v, want Success", res.State)
			}
			for name, want := range c.want {
				if got := rec.States(name); len(got) == 0 || got[len(got)-1] != want {
					t.Errorf("%s: states %v, want it to end %v", name, got, want)
				}
			}
		})
	}
	// A run of the local store cannot be resumed without one.
	from, err := r.Resumed(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	fl, err = remote.Load(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ie *InputError
	if _, err := remote.Prepare(ctx, fl, Request{Resume: from}); !errors.As(err, &ie) {
		t.Errorf("a local resume with no store: %v, want an InputError", err)
	}
}
