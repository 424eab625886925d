//go:build unix

package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run a real wfsh process, for what testscript cannot check of
// a background command: its exact exit status, how soon it stops, and
// that it leaves no process behind.

const loopFlow = `
@task
def spin():
    print("spinning")
    while True:
        pass

@task
def report(x):
    print("never")

@flow(name="Loop")
def f():
    report(spin())
`

const timeoutFlow = `
@task(timeout="200ms")
def spin():
    print("spinning")
    while True:
        pass

@flow(name="Timeout")
def f():
    spin()
`

// TestInterrupt interrupts a run whose task loops forever: wfsh must stop
// within a few seconds with exit status 130, report the task Cancelled,
// and leave no process of its group running.
func TestInterrupt(t *testing.T) {
	p := startWfsh(t, loopFlow)
	p.waitStarted(t)
	sent := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.wantCancelled(t, sent)
	p.checkNoProcessLeft(t)
}

// wantCancelled waits for wfsh to exit after the SIGINT sent at sent and
// checks what an interrupted run of the flows here shows: exit status 130,
// the running task "spin" and its downstream "report" Cancelled, and
// nothing printed "never".
func (p *wfshProc) wantCancelled(t *testing.T, sent time.Time) {
	t.Helper()
	code := p.wait(t, 5*time.Second)
	t.Logf("wfsh stopped %v after SIGINT", time.Since(sent))
	out := p.output()
	if code != 130 {
		t.Errorf("exit status %d, want 130; output:\n%s", code, out)
	}
	wantAll(t, out,
		"Task 'spin': Finished task run for task with final state: 'Cancelled'",
		"Task 'report': Finished task run for task with final state: 'Cancelled'",
		"Flow run CANCELLED",
	)
	if strings.Contains(out, "never") {
		t.Errorf("the command or the downstream task went on:\n%s", out)
	}
}

// TestTimeoutStopsLoop checks that a task looping forever past its
// timeout="200ms" ends TimedOut and that the whole run ends within about a
// second, with exit status 1.
func TestTimeoutStopsLoop(t *testing.T) {
	p := startWfsh(t, timeoutFlow)
	start := time.Now()
	code := p.wait(t, 10*time.Second)
	elapsed := time.Since(start)
	t.Logf("the run took %v", elapsed)
	out := p.output()
	if code != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", code, out)
	}
	if elapsed > 2*time.Second {
		t.Errorf("the run took %v, want about a second at most", elapsed)
	}
	if want := "Task 'spin': Finished task run for task with final state: 'TimedOut'"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	p.checkNoProcessLeft(t)
}

// wfshProc is a wfsh run started in its own process group, with its
// standard output collected line by line.
type wfshProc struct {
	cmd     *exec.Cmd
	started chan struct{} // closed when the task prints "spinning"
	done    chan struct{} // closed when stdout is at EOF
	stderr  strings.Builder

	mu  sync.Mutex
	out strings.Builder
}

// startWfsh builds wfsh and starts `wfsh run flow.star` on the given flow.
func startWfsh(t *testing.T, flow string) *wfshProc {
	t.Helper()
	bin := buildWfsh(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &wfshProc{started: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "flow.star")
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
	go p.read(stdout)
	return p
}

func (p *wfshProc) read(r io.Reader) {
	defer close(p.done)
	var once sync.Once
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.out.WriteString(line + "\n")
		p.mu.Unlock()
		if strings.HasSuffix(line, "wfsh.spin | spinning") {
			once.Do(func() { close(p.started) })
		}
	}
}

func (p *wfshProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits at most d for wfsh to exit and returns its exit status.
func (p *wfshProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.kill()
		t.Fatalf("wfsh did not exit within %v; output:\n%s", d, p.output())
	}
	err := p.cmd.Wait()
	if p.stderr.Len() > 0 {
		t.Errorf("stderr: %s", p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	t.Fatalf("wfsh: %v", err)
	return -1
}

// kill kills the whole process group, in case a test failed half-way;
// once wfsh has been waited for, its process group id may be reused.
func (p *wfshProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// checkNoProcessLeft checks, once wfsh has exited, that no process of its
// process group (a task's child, a plugin) is still running.
func (p *wfshProc) checkNoProcessLeft(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("a process of wfsh's group is still running after it exited (kill -0: %v)", err)
	}
}

// waitStarted waits until the flow's task has printed that it started.
func (p *wfshProc) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-p.started:
	case <-time.After(20 * time.Second):
		p.kill()
		t.Fatalf("the task did not start; output so far:\n%s", p.output())
	}
}

// wantAll reports each of wants missing from out.
func wantAll(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// buildWfsh builds the wfsh binary into a temporary directory; -short
// skips the tests that need it.
func buildWfsh(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the wfsh binary")
	}
	return wfshBinary(t)
}
