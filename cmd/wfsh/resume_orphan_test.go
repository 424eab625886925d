//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/store"
)

// TestResumeRefusesLeftovers: kill -9 of wfsh's whole process group kills
// wfsh and its plugin at once, leaving no one to end the children of the
// shell task's bash (bash itself dies with the plugin). --resume of that
// run refuses to start while they run, naming them, and starts once they
// are gone.
func TestResumeRefusesLeftovers(t *testing.T) {
	p := startWfshArgs(t, "", orphanFlow, "run", "--store", "wfsh.db", "flow.star")
	p.waitStarted(t)
	tree := readTree(t, p)
	bin := buildWfsh(t)
	db := filepath.Join(p.cmd.Dir, "wfsh.db")
	// The run is in the store (written in the background) before the kill.
	var runs []store.Run
	for deadline := time.Now().Add(10 * time.Second); len(runs) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		runs = runsJSON(t, bin, db)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	if len(runs) != 1 {
		t.Fatalf("%d runs in the store, want 1", len(runs))
	}
	// Were it to start, it would run the task again, for 300 s.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resume := exec.CommandContext(ctx, bin, "run", "--store", db, "--resume", runs[0].ID, "flow.star")
	resume.Dir = p.cmd.Dir
	resume.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	resume.Cancel = func() error { return syscall.Kill(-resume.Process.Pid, syscall.SIGKILL) }
	out, err := resume.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("--resume beside the leftovers: %v, want exit status 2; output:\n%s", err, out)
	}
	msg := string(out)
	for _, pid := range []int{tree.child, tree.grandchild} {
		if !strings.Contains(msg, "pid "+strconv.Itoa(pid)+" ") {
			t.Errorf("the refusal does not name pid %d:\n%s", pid, msg)
		}
	}
	if !strings.Contains(msg, "processes that run started are still running") || strings.Count(msg, "\n") != 1 {
		t.Errorf("want one line saying processes of the run still run:\n%s", msg)
	}
	if strings.Contains(msg, "spinning") {
		t.Errorf("the resumed run started:\n%s", msg)
	}

	// Once they are gone, the run resumes.
	_ = syscall.Kill(-tree.bash, syscall.SIGKILL)
	again := startWfshArgs(t, p.cmd.Dir, "", "run", "--store", db, "--resume", runs[0].ID, "flow.star")
	again.waitStarted(t)
}

// startWfshArgs starts wfsh with args in dir (a new one if ""), writing
// flow to flow.star there unless it is "", as startWfsh does.
func startWfshArgs(t *testing.T, dir, flow string, args ...string) *wfshProc {
	t.Helper()
	bin := buildWfsh(t)
	if dir == "" {
		dir = t.TempDir()
	}
	if flow != "" {
		if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(flow), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &wfshProc{started: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	t.Cleanup(func() {
		// The shell task's group, when the test stops the run.
		if b, err := os.ReadFile(filepath.Join(dir, "pids")); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				if pgid, err := strconv.Atoi(f[0]); err == nil && pgid > 1 {
					_ = syscall.Kill(-pgid, syscall.SIGKILL)
				}
			}
		}
	})
	go p.read(stdout)
	return p
}

// readTree reads the PIDs orphanFlow's command wrote: bash, its child, its
// grandchild.
func readTree(t *testing.T, p *wfshProc) shellTree {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.cmd.Dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, s := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 1 {
			t.Fatalf("pids holds %q, want three PIDs", b)
		}
		pids = append(pids, n)
	}
	if len(pids) != 3 {
		t.Fatalf("pids holds %q, want three PIDs", b)
	}
	tree := shellTree{bash: pids[0], child: pids[1], grandchild: pids[2]}
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-tree.bash, syscall.SIGKILL)
	})
	return tree
}
