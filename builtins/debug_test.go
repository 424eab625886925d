package builtins

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// A flow.run() whose context is cancelled stops the statement that called
// it, at the call, even when nothing else cancels the calling thread: the
// run's tasks may see the cancellation and end the run before the REPL's
// own cancellation of the thread has landed.
func TestFlowRunInterruptedStopsTheStatement(t *testing.T) {
	file := filepath.Join(t.TempDir(), "spin.star")
	src := "@task\ndef spin():\n    while True:\n        pass\n\n@flow\ndef f():\n    spin()\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	onRun := func(RunStart) runtime.Sink {
		return runtime.SinkFunc(func(e runtime.Event) {
			if e.Kind == runtime.TaskState && e.State == runtime.Running {
				cancel() // the task is running: interrupt the run
			}
		})
	}
	m, err := Load(file, LoadOptions{OnRun: onRun, Interactive: true, Draw: testDraw})
	if err != nil {
		t.Fatal(err)
	}
	thread := m.NewThread("test", func(string) {})
	thread.SetLocal("context", ctx)
	globals := starlark.StringDict{"f": m.Flows[0]}
	chunk := "r = f.run()\nafter = True\n"
	_, err = starlark.ExecFileOptions(FileOptions, thread, "<stdin>", chunk, globals)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("statement after an interrupted run: err %v, want interrupted", err)
	}
	if globals["after"] != nil {
		t.Error("the statement went on after the interrupted run")
	}
}
