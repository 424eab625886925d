//go:build unix

package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

const loopHooksFlow = `
def note(task, task_run, state):
    print("task hook: %s %s" % (task_run.name, state.name))

def cancelled(flow, flow_run, state):
    print("flow on_cancellation: %s" % state.name)

def completed(flow, flow_run, state):
    print("flow on_completion: %s" % state.name)

@task(on_completion=[note], on_failure=[note])
def spin():
    print("spinning")
    while True:
        pass

@flow(name="Loop", on_cancellation=[cancelled], on_completion=[completed], on_failure=[cancelled])
def f():
    spin()
`

// TestInterruptCallsHooks: Ctrl-C cancels the run, and its hooks still
// run, each once: the task's on_completion, then the flow's
// on_cancellation and on_completion (its on_failure not); wfsh exits 130
// with nothing left running.
func TestInterruptCallsHooks(t *testing.T) {
	p := startWfsh(t, loopHooksFlow)
	p.waitStarted(t)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, 10*time.Second)
	out := p.output()
	if code != 130 {
		t.Errorf("exit status %d, want 130:\n%s", code, out)
	}
	for line, want := range map[string]int{
		"INFO - wfsh.spin | task hook: spin Cancelled":             1,
		"INFO - wfsh.FlowRunner | flow on_cancellation: Cancelled": 1,
		"INFO - wfsh.FlowRunner | flow on_completion: Cancelled":   1,
		"| Running on_": 3,
	} {
		if got := countLines(out, line); got != want {
			t.Errorf("%d lines with %q, want %d:\n%s", got, line, want, out)
		}
	}
	p.checkNoProcessLeft(t)
}

// countLines counts the lines of out that hold s.
func countLines(out, s string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
