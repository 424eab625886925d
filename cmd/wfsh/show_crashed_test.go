//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

const spinFlow = `
@task
def spin():
    x = 0
    for j in range(1000000000):
        x += j
    return x

@task
def double(x):
    return 2 * x

@task
def report(x):
    print(x)

@flow(name="Spin")
def f():
    report(double(spin()))
`

// TestShowCrashedListsNotStarted kills `wfsh run` while its first task
// runs: `wfsh show` of the Crashed run lists the tasks that never started
// as Pending, as that of a cancelled run lists them (as Cancelled).
func TestShowCrashedListsNotStarted(t *testing.T) {
	bin := wfshBinary(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(spinFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "wfsh.db")
	cmd := startRun(t, bin, dir, db)
	// Wait until the first task's start is written.
	running := regexp.MustCompile(`(?m)^spin +Running `)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if runs := runsJSON(t, bin, db); len(runs) == 1 && runs[0].State == runtime.Running {
			out, _ := exec.Command(bin, "show", "--store", db, runs[0].ID).Output()
			if running.Match(out) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the run's first task was not recorded as Running within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	runs := runsJSON(t, bin, db)
	if len(runs) != 1 || runs[0].State != runtime.Crashed {
		t.Fatalf("runs after the kill: %+v, want one Crashed", runs)
	}
	out, err := exec.Command(bin, "show", "--store", db, runs[0].ID).CombinedOutput()
	if err != nil {
		t.Fatalf("wfsh show: %v\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^spin +Crashed +1 +\S+ +the wfsh process \(pid \d+\) died`,
		`(?m)^double +Pending +0 +- +not started$`,
		`(?m)^report +Pending +0 +- +not started$`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("wfsh show has no line matching %s:\n%s", want, out)
		}
	}
}
