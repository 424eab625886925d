//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
)

// These tests run a real wfsh whose @shell task starts bash with a child in
// the background, and check by PID that interrupting wfsh, or the task's
// timeout, leaves neither bash nor its children running. bash runs in a
// process group of its own, so checkNoProcessLeft (wfsh's group) does not
// see it: the command writes its PIDs to a file ($$, which is also its
// process group, then $!) and the test looks for them and for any member
// of that group.

const shellLoopFlow = `
load("@shell", "shell_task")

spin = shell_task(name="spin",
    command="sleep 300 & echo $$ $! > pids; echo spinning; sleep 300; echo never")

@task
def report(x):
    print("never")

@flow(name="ShellLoop")
def f():
    report(spin())
`

const shellTimeoutFlow = `
load("@shell", "shell_task")

spin = shell_task(name="spin", timeout="1s",
    command="sleep 300 & echo $$ $! > pids; echo spinning; sleep 300; echo never")

@flow(name="ShellTimeout")
def f():
    spin()
`

// TestShellInterrupt sends SIGINT to wfsh while a shell task runs: to wfsh
// alone, and to wfsh's whole process group as a terminal's Ctrl-C does
// (which reaches the plugin too, but not bash, in a group of its own).
// wfsh must exit 130 within a few seconds, report the task Cancelled, and
// leave no process behind: not bash, not its children, not the plugin.
func TestShellInterrupt(t *testing.T) {
	for _, to := range []string{"wfsh", "group"} {
		t.Run(to, func(t *testing.T) {
			p := startWfsh(t, shellLoopFlow)
			p.waitStarted(t)
			pids := readPids(t, filepath.Join(p.cmd.Dir, "pids"))
			t.Cleanup(func() { _ = syscall.Kill(-pids[0], syscall.SIGKILL) })
			if !proctest.Running(pids[0]) || !proctest.Running(pids[1]) {
				t.Fatalf("bash (%d) or its background child (%d) is not running before the interrupt", pids[0], pids[1])
			}
			target := p.cmd.Process.Pid
			if to == "group" {
				target = -target
			}
			sent := time.Now()
			if err := syscall.Kill(target, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			p.wantCancelled(t, sent)
			checkGone(t, pids)
			p.checkNoProcessLeft(t)
		})
	}
}

// TestShellTimeout: a shell task past its timeout="1s" ends TimedOut, its
// process group killed, and the run fails (exit 1) soon after.
func TestShellTimeout(t *testing.T) {
	p := startWfsh(t, shellTimeoutFlow)
	start := time.Now()
	p.waitStarted(t)
	pids := readPids(t, filepath.Join(p.cmd.Dir, "pids"))
	t.Cleanup(func() { _ = syscall.Kill(-pids[0], syscall.SIGKILL) })
	code := p.wait(t, 10*time.Second)
	t.Logf("the run took %v", time.Since(start))
	out := p.output()
	if code != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", code, out)
	}
	wantAll(t, out,
		"timed out after 1s",
		"Task 'spin': Finished task run for task with final state: 'TimedOut'",
		"Flow run FAILED",
	)
	if strings.Contains(out, "never") {
		t.Errorf("the command went on:\n%s", out)
	}
	checkGone(t, pids)
	p.checkNoProcessLeft(t)
}

// readPids reads the PIDs the command wrote to path: bash's $$ (its
// process group too), then $! (the background child). The command writes
// them before printing "spinning", so they are there once it has started.
func readPids(t *testing.T, path string) []int {
	t.Helper()
	// The task writes the file once it runs: its state may show Running
	// a moment before (a loaded machine), so wait for both PIDs.
	var b []byte
	var f []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ = os.ReadFile(path)
		if f = strings.Fields(string(b)); len(f) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(f) != 2 {
		t.Fatalf("%s holds %q after 10s, want two PIDs", path, b)
	}
	pids := make([]int, 2)
	for i, s := range f {
		var err error
		if pids[i], err = strconv.Atoi(s); err != nil || pids[i] <= 1 {
			t.Fatalf("%s holds %q, want two PIDs", path, b)
		}
	}
	return pids
}

// checkGone checks that within 5s neither pids nor any member of the
// process group pids[0] is running.
func checkGone(t *testing.T, pids []int) {
	t.Helper()
	proctest.CheckGone(t, pids, 5*time.Second, "wfsh stopped")
}
