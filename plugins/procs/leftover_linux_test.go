package procs

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// Leftovers finds a process by the HostEnv it was started with: for the
// wfsh PID it names, when that wfsh started by the run's start, and only
// while it runs.
func TestLeftovers(t *testing.T) {
	const wfshPID = 1 << 30 // no such process
	start := time.Now().Add(-time.Minute)
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d", HostEnv, wfshPID, start.UnixNano()))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	cases := []struct {
		name     string
		pid      int
		runStart time.Time
		want     bool
	}{
		{"its run", wfshPID, start.Add(time.Second), true},
		{"another wfsh", wfshPID + 1, start.Add(time.Second), false},
		{"a later wfsh with the same pid", wfshPID, start.Add(-time.Nanosecond), false},
	}
	for _, c := range cases {
		got := Leftovers(c.pid, c.runStart, 0)
		if slices.Contains(got, pid) != c.want {
			t.Errorf("%s: Leftovers = %v, want %d listed: %v", c.name, got, pid, c.want)
		}
	}
	// None while that wfsh runs: it ends its processes itself.
	marked := exec.Command("sleep", "60")
	marked.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d", HostEnv, os.Getppid(), start.UnixNano()))
	if err := marked.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = marked.Process.Kill(); _ = marked.Wait() })
	if got := Leftovers(os.Getppid(), start.Add(time.Second), 0); len(got) != 0 {
		t.Errorf("Leftovers of a live wfsh = %v, want none", got)
	}
	// Leftovers waits for them to go.
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = cmd.Process.Kill()
	}()
	if got := Leftovers(wfshPID, start.Add(time.Second), 5*time.Second); len(got) != 0 {
		t.Errorf("Leftovers after the kill = %v, want none", got)
	}
}
