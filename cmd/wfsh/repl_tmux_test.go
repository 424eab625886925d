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

// TestReplInTerminal runs `wfsh repl flows/debug.star` in a real terminal
// (a tmux pane of a tmux server of its own), types a debugging session
// with send-keys, reads the screen with capture-pane, and checks by PID
// that nothing is left running once the REPL has quit.
func TestReplInTerminal(t *testing.T) {
	bin := buildWfsh(t)
	tm := startTmux(t, bin, "flows/debug.star", nil)

	tm.waitFor(t, `flow "Debug" is debug, and `+"`flow`"+` at this prompt`)
	tm.enter(t, `r = flow.run(task_states={"number": Success("Dummy Success", 10)})`)
	scr := tm.waitFor(t, "4 task runs: 4 Success")
	// The run shows in a pane beside the prompt: the two share lines.
	if !sharesLine(scr, ">>> r = flow.run(", "│") || !sharesLine(scr, "│ Debug · run ", " · Success") {
		t.Errorf("the run pane is not beside the prompt:\n%s", scr)
	}
	tm.enter(t, `r.result("cube")`)
	tm.waitFor(t, "\n1000 ")

	// A decorated def over several lines, then replace and run again.
	tm.enter(t, "@task", "def seven():", "    return 7", "")
	tm.waitFor(t, "...     return 7")
	tm.enter(t, `flow.replace(flow.get_tasks(name="number")[0], seven)`, `flow.run().result("cube")`)
	tm.waitFor(t, "\n343 ")

	// Tab completes an attribute.
	tm.keys(t, "-l", "r.res")
	tm.keys(t, "Tab")
	tm.enter(t, `("square")`)
	tm.waitFor(t, `>>> r.result("square")`)
	tm.waitFor(t, "\n100 ")

	// An error points at the line and column typed; the REPL goes on.
	tm.enter(t, "x = 1 +* 2")
	tm.waitFor(t, "<stdin>:10:8: got '*', want primary expression")

	if _, err := exec.LookPath("dot"); err == nil {
		tm.enter(t, `flow.visualize(filename="debug", format="png")`)
		tm.waitFor(t, `"debug.png"`)
		png, err := os.ReadFile(filepath.Join(tm.dir, "debug.png"))
		if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
			t.Errorf("debug.png: %v, %q", err, png[:min(len(png), 8)])
		}
	}

	// Ctrl-D on an empty prompt quits, with status 0, leaving nothing behind.
	sh, pid := tm.pids(t)
	tm.keys(t, "C-d")
	tm.waitExit(t, pid, 0)
	proctest.CheckGone(t, []int{sh, pid}, 5*time.Second, "wfsh repl quit")
	hist, err := os.ReadFile(filepath.Join(tm.dir, "home", "repl_history"))
	if err != nil || !strings.Contains(string(hist), `"@task\ndef seven():\n    return 7"`) {
		t.Errorf("history file: %v\n%s", err, hist)
	}
}

// TestReplQuitMidRun quits the REPL while a flow started at its prompt
// runs a task that never ends: the run is cancelled, the REPL exits, and
// no process is left.
func TestReplQuitMidRun(t *testing.T) {
	bin := buildWfsh(t)
	tm := startTmux(t, bin, "spin.star", map[string]string{"spin.star": loopFlow})
	tm.waitFor(t, `flow "Loop" is f`)
	tm.enter(t, "r = flow.run()")
	tm.waitFor(t, "spinning")
	sh, pid := tm.pids(t)
	tm.keys(t, "C-d")
	tm.waitExit(t, pid, 0)
	proctest.CheckGone(t, []int{sh, pid}, 5*time.Second, "wfsh repl quit mid-run")
}

// tmux drives one tmux server, private to the test, with one pane.
type tmux struct {
	sock, dir string
}

// startTmux starts `wfsh repl file` in a new directory holding files and
// flows/ (the repository's).
func startTmux(t *testing.T, bin, file string, files map[string]string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: make setup installs it (Debian package tmux)")
	}
	dir := t.TempDir()
	flows, err := filepath.Abs("../../flows")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(flows, filepath.Join(dir, "flows")); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The socket path must be short: a temporary directory may be too long.
	sockDir, err := os.MkdirTemp("", "wfsh-tmux")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	tm := &tmux{sock: filepath.Join(sockDir, "s"), dir: dir}
	// The pane's shell runs wfsh and writes its exit status to a file
	// (tmux does not always get it); standard error goes to a file too:
	// what wfsh says there (a stack dump if it hangs) outlives the screen.
	cmd := fmt.Sprintf("cd %s && env WFSH_HOME=%s TERM=xterm-256color %s repl %s --concurrency 1 2>stderr; echo $? >status",
		shellQuote(dir), shellQuote(filepath.Join(dir, "home")), shellQuote(bin), shellQuote(file))
	tm.run(t, "new-session", "-d", "-s", "repl", "-x", "150", "-y", "45", cmd)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.sock, "kill-server").Run() })
	tm.run(t, "set-option", "-t", "repl", "remain-on-exit", "on")
	return tm
}

func (tm *tmux) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.sock}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (tm *tmux) keys(t *testing.T, keys ...string) {
	t.Helper()
	tm.run(t, append([]string{"send-keys", "-t", "repl"}, keys...)...)
}

// enter types each line literally, then Enter.
func (tm *tmux) enter(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if l != "" {
			tm.keys(t, "-l", l)
		}
		tm.keys(t, "Enter")
	}
}

func (tm *tmux) screen(t *testing.T) string {
	t.Helper()
	return tm.run(t, "capture-pane", "-p", "-t", "repl")
}

// waitFor waits until the screen shows want, and returns the screen.
func (tm *tmux) waitFor(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		scr := tm.screen(t)
		if strings.Contains(scr, want) {
			return scr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen does not show %q:\n%s", want, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pids are the PIDs of the pane's shell (a session and process group
// leader) and of wfsh, its child.
func (tm *tmux) pids(t *testing.T) (sh, wfsh int) {
	t.Helper()
	shell := strings.TrimSpace(tm.run(t, "display-message", "-p", "-t", "repl", "#{pane_pid}"))
	children, err := os.ReadFile(fmt.Sprintf("/proc/%s/task/%s/children", shell, shell))
	if err != nil {
		t.Skipf("cannot find wfsh's PID: %v", err)
	}
	f := strings.Fields(string(children))
	if len(f) != 1 {
		t.Fatalf("the pane's shell %s has children %q, want wfsh alone", shell, f)
	}
	sh, err1 := strconv.Atoi(shell)
	wfsh, err2 := strconv.Atoi(f[0])
	if err1 != nil || err2 != nil {
		t.Fatalf("pids %q, %q", shell, f[0])
	}
	return sh, wfsh
}

// waitExit waits until wfsh (pid) has exited, with status want.
func (tm *tmux) waitExit(t *testing.T, pid, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(tm.dir, "status")); err == nil && strings.HasSuffix(string(b), "\n") {
			if got := strings.TrimSpace(string(b)); got != strconv.Itoa(want) {
				stderr, _ := os.ReadFile(filepath.Join(tm.dir, "stderr"))
				t.Errorf("wfsh repl exited with status %s, want %d; stderr:\n%s\nscreen:\n%s", got, want, stderr, tm.screen(t))
			}
			return
		}
		if time.Now().After(deadline) {
			tm.dumpStacks(t, pid)
			t.Fatalf("wfsh repl did not exit; screen:\n%s", tm.screen(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dumpStacks has a wfsh that did not exit print its goroutines (SIGQUIT)
// and logs its standard error.
func (tm *tmux) dumpStacks(t *testing.T, pid int) {
	t.Helper()
	t.Logf("wfsh (pid %d) running: %v", pid, proctest.Running(pid))
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	time.Sleep(time.Second)
	stderr, _ := os.ReadFile(filepath.Join(tm.dir, "stderr"))
	t.Logf("standard error:\n%s", stderr)
}

// sharesLine reports whether some line of s holds both a and b, a first.
func sharesLine(s, a, b string) bool {
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, a); i >= 0 && strings.Contains(l[i:], b) {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
