//go:build unix

package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
)

// TestReplScriptInterrupt interrupts a scripted session while a flow run
// it started loops forever: the run is cancelled, the statements after it
// do not run, wfsh exits 130, and nothing of its process group is left.
func TestReplScriptInterrupt(t *testing.T) {
	bin := buildWfsh(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(loopFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "repl", "flow.star")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("r = flow.run()\nprint(\"after\")\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	deadline := time.After(20 * time.Second)
wait:
	for {
		select {
		case l := <-lines:
			out = append(out, l)
			if strings.HasSuffix(l, "wfsh.spin | spinning") {
				break wait
			}
		case <-deadline:
			t.Fatalf("the task did not start:\n%s", strings.Join(out, "\n"))
		}
	}
	pid := cmd.Process.Pid
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for l := range lines {
			out = append(out, l)
		}
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("wfsh repl did not exit within 5s of SIGINT:\n%s", strings.Join(out, "\n"))
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130; stderr: %s", err, stderr.String())
	}
	all := strings.Join(out, "\n")
	wantAll(t, all, "Task 'spin': Finished task run for task with final state: 'Cancelled'", "Flow run CANCELLED")
	if strings.Contains(all, "after") {
		t.Errorf("a statement after the interrupted one ran:\n%s", all)
	}
	proctest.CheckGone(t, []int{pid}, 5*time.Second, "wfsh repl was interrupted")
}
