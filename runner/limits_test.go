package runner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

const limitedSrc = `
@task(tags=["db"])
def work(i):
    return sum(range(300000)) + i

@flow(limits={"db": 1})
def limited():
    return [work(i) for i in range(4)]
`

// mostRunning is the most task runs between Running and a final state at
// once, in the order their events came.
func mostRunning(evs []runtime.Event) int {
	n, most := 0, 0
	for _, e := range evs {
		switch {
		case e.Kind != runtime.TaskState:
		case e.State == runtime.Running:
			n++
		case e.State.Finished():
			n--
		}
		most = max(most, n)
	}
	return most
}

// TestLimitsInREPL: the REPL's flow.run() (no store) holds the flow's
// limits: one db task run at a time, the others saying they wait; twice,
// so the Runner's slots are given back after each run.
func TestLimitsInREPL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "limited.star")
	if err := os.WriteFile(path, []byte(limitedSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Level: runtime.Info, Stderr: os.Stderr, Concurrency: 4})
	t.Cleanup(r.Close)
	var rec runtimetest.Recorder
	m, err := r.LoadInteractive(path, builtins.LoadOptions{OnRun: func(builtins.RunStart) runtime.Sink { return &rec }})
	if err != nil {
		t.Fatal(err)
	}
	run, err := m.Flows[0].Attr("run")
	if err != nil || run == nil {
		t.Fatalf("flow.run: %v", err)
	}
	for i := range 2 {
		if _, err := starlark.Call(&starlark.Thread{Name: "repl"}, run, nil, nil); err != nil {
			t.Fatalf("flow.run() %d: %v", i, err)
		}
	}
	evs := rec.Events()
	if n := mostRunning(evs); n != 1 {
		t.Errorf("at most %d db task runs at once, want 1", n)
	}
	waits := slices.IndexFunc(evs, func(e runtime.Event) bool {
		return e.Kind == runtime.TaskLog && strings.HasPrefix(e.Msg, "waiting for a slot of limit db")
	})
	if waits < 0 {
		t.Error("no task run said it waited for a slot")
	}
	if got := rec.States("work"); len(got) == 0 || !slices.Contains(got, runtime.Success) {
		t.Errorf("work went through %v", got)
	}
}
