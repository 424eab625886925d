//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
)

// This test runs `wfsh run --tui` in a real terminal: tmux (installed by
// `make setup`) runs it in a detached session, send-keys types, and
// capture-pane reads the screen. It quits while a @shell task runs and
// checks, by PID, that wfsh, the plugin and the task's processes are gone.

const tuiFlow = `
load("@shell", "shell_task")

spin = shell_task(name="spin",
    command="sleep 300 & echo $$ $! > pids; echo spinning; sleep 300; echo never")

@task
def greet():
    print("hello from greet")
    return 3

@task
def numbers(n):
    return list(range(n * 10))

@task
def square(x):
    return x * x

@task
def report(xs, s):
    print("never")

@flow(name="TUIDemo")
def f():
    report(square.map(numbers(greet())), spin())
`

// tmuxTerm is a tmux server of the test's own, with one session running a
// command in a 120x40 terminal.
type tmuxTerm struct {
	t    *testing.T
	tmux string
	sock string
	dir  string // the pane's working directory
}

// waitPid reads the PID a pane's shell wrote to path.
func waitPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no PID in %s after 20s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startTerm(t *testing.T, dir, command string) *tmuxTerm {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (make setup installs it)")
	}
	x := &tmuxTerm{t: t, tmux: tmux, sock: filepath.Join(dir, "tmux.sock"), dir: dir}
	// The dead pane stays, so that its exit status can be read.
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tmux, "-S", x.sock, "-f", conf, "new-session", "-d", "-s", "wfsh", "-x", "120", "-y", "40", "-c", dir, command)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	server, err := strconv.Atoi(x.run("display-message", "-p", "#{pid}"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command(tmux, "-S", x.sock, "kill-server").Run()
		proctest.CheckGone(t, []int{server}, 5*time.Second, "tmux kill-server")
	})
	return x
}

func (x *tmuxTerm) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command(x.tmux, append([]string{"-S", x.sock}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

// keys types keys, as tmux send-keys names them ("j", "Enter", "C-c").
func (x *tmuxTerm) keys(keys ...string) {
	x.run(append([]string{"send-keys", "-t", "wfsh"}, keys...)...)
}

func (x *tmuxTerm) screen() string { return x.run("capture-pane", "-p", "-t", "wfsh") }

// waitScreen waits up to 20s for the screen to satisfy cond.
func (x *tmuxTerm) waitScreen(what string, cond func(string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := x.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("timed out waiting for %s; the screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func has(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	}
}

// selected returns the row marked as selected.
func selected(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "›") {
			return l
		}
	}
	return ""
}

// rowNamed returns the list row of a task run.
func rowNamed(screen, name string) string {
	for _, l := range strings.Split(screen, "\n") {
		f := strings.Fields(strings.TrimLeft(l, "› ▸▾"))
		if len(f) > 0 && f[0] == name {
			return l
		}
	}
	return ""
}

// startTUI runs `wfsh run --tui` on tuiFlow in a terminal and waits until
// the shell task runs and the map is done. It returns wfsh's PID and the
// PIDs the shell task wrote (bash, its background child).
func startTUI(t *testing.T) (x *tmuxTerm, dir string, pid int, pids []int, screen string) {
	t.Helper()
	bin := buildWfsh(t)
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(tuiFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	// The pane's shell writes wfsh's PID (an inner shell's, which then
	// execs wfsh) and, once wfsh has exited, its exit status to files:
	// tmux's own #{pane_dead_status} is sometimes empty for a dead pane
	// (seen with tmux 3.3a).
	x = startTerm(t, dir, "sh -c 'echo $$ >wfsh.pid; exec "+bin+" run --tui flow.star'; echo $? >status")
	pid = waitPid(t, filepath.Join(dir, "wfsh.pid"))
	if pane, err := strconv.Atoi(x.run("display-message", "-p", "-t", "wfsh", "#{pane_pid}")); err == nil {
		t.Cleanup(func() { _ = syscall.Kill(-pane, syscall.SIGKILL) })
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	screen = x.waitScreen("spin running and square done", func(s string) bool {
		return strings.Contains(rowNamed(s, "spin"), "Running") && strings.Contains(rowNamed(s, "square"), "100% 30/30")
	})
	pids = readPids(t, filepath.Join(dir, "pids"))
	t.Cleanup(func() { _ = syscall.Kill(-pids[0], syscall.SIGKILL) })
	return x, dir, pid, pids, screen
}

// waitExit waits for wfsh to exit and checks its exit status, that the
// terminal is back to its normal screen with the run's summary, and that
// nothing is left running.
func waitExit(t *testing.T, x *tmuxTerm, pid int, pids []int, after string, summary bool) {
	t.Helper()
	// tmux may see the terminal closed before it has reaped wfsh: wait
	// for the exit status (or the signal that killed it).
	var code string
	x.waitScreen("wfsh's exit", func(string) bool {
		b, err := os.ReadFile(filepath.Join(x.dir, "status"))
		code = strings.TrimSpace(string(b))
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	if code != fmt.Sprint(exitInterrupted) {
		t.Errorf("wfsh exited %q, want %d; the screen:\n%s", code, exitInterrupted,
			x.run("capture-pane", "-p", "-J", "-S", "-", "-t", "wfsh"))
	}
	if alt := x.run("display-message", "-p", "-t", "wfsh", "#{alternate_on}"); alt != "0" {
		t.Errorf("the terminal was left in the alternate screen (alternate_on=%s)", alt)
	}
	if !summary {
		proctest.CheckGone(t, []int{pid}, 5*time.Second, after)
		proctest.CheckGone(t, pids, 5*time.Second, after)
		return
	}
	// Back on the normal screen, one line says how the run ended (read
	// with the lines scrolled off, wrapped lines joined).
	s := x.run("capture-pane", "-p", "-J", "-S", "-", "-t", "wfsh")
	if !strings.Contains(s, "Flow run 'TUIDemo' (") || !strings.Contains(s, "): Cancelled after") {
		t.Errorf("no summary after the view:\n%s", s)
	}
	proctest.CheckGone(t, []int{pid}, 5*time.Second, after)
	proctest.CheckGone(t, pids, 5*time.Second, after)
}

// TestTUIInTerminal filters, moves, expands, then quits mid-run.
func TestTUIInTerminal(t *testing.T) {
	x, _, pid, pids, s := startTUI(t)
	header := strings.SplitN(s, "\n", 2)[0]
	for _, want := range []string{"TUIDemo", "Running"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q", header, want)
		}
	}
	wantInOrder(t, s, "greet", "numbers", "square", "spin", "report")
	if !strings.Contains(rowNamed(s, "report"), "Pending") {
		t.Errorf("report's row: %q", rowNamed(s, "report"))
	}

	// Filter: running lists spin alone.
	x.keys("s")
	s = x.waitScreen("the running filter", has("filter: running"))
	if rowNamed(s, "spin") == "" || rowNamed(s, "greet") != "" || rowNamed(s, "report") != "" {
		t.Errorf("the running filter lists more or less than spin:\n%s", s)
	}
	x.keys("s")
	x.waitScreen("the failed filter", has("filter: failed", "no failed task runs"))
	x.keys("S", "S")
	s = x.waitScreen("all again", has("filter: all"))

	// Move: the top row is greet; its log shows what it printed.
	x.keys("g")
	s = x.waitScreen("greet selected", func(s string) bool { return strings.Contains(selected(s), "greet") })
	if !strings.Contains(s, "── greet · Success") || !strings.Contains(s, "hello from greet") {
		t.Errorf("greet's log pane:\n%s", s)
	}
	x.keys("j", "j")
	s = x.waitScreen("square selected", func(s string) bool { return strings.Contains(selected(s), "square") })
	x.keys("Enter")
	s = x.waitScreen("square expanded", func(s string) bool { return rowNamed(s, "square[29]") != "" || rowNamed(s, "square[0]") != "" })
	if !strings.Contains(s, "follow: off") {
		t.Errorf("moving did not stop following:\n%s", s)
	}

	// Quit mid-run: the view asks; n keeps it; q then y cancels and quits.
	x.keys("q")
	x.waitScreen("the question", has("The run is still going. Cancel it and quit? (y/n)"))
	x.keys("n")
	x.waitScreen("the question gone", func(s string) bool { return !strings.Contains(s, "Cancel it and quit?") })
	if !proctest.Running(pid) || !proctest.Running(pids[0]) {
		t.Fatal("wfsh or the shell task stopped after n")
	}
	x.keys("q", "y")
	waitExit(t, x, pid, pids, "quitting the view", true)
}

// TestTUIInterrupt sends SIGINT to wfsh while the view shows the run, as
// kill would: the run is cancelled, the view ends by itself and gives the
// terminal back. A second SIGINT right after the first exits at once, with
// the terminal given back too and nothing left running.
func TestTUIInterrupt(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("x%d", n), func(t *testing.T) {
			x, _, pid, pids, _ := startTUI(t)
			for range n {
				if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
			}
			waitExit(t, x, pid, pids, "SIGINT", n == 1)
		})
	}
}

// wantInOrder checks that the names appear on the screen in this order.
func wantInOrder(t *testing.T, screen string, names ...string) {
	t.Helper()
	at := 0
	for _, n := range names {
		i := strings.Index(screen[at:], n)
		if i < 0 {
			t.Errorf("%q missing or out of order on the screen:\n%s", n, screen)
			return
		}
		at += i + len(n)
	}
}
