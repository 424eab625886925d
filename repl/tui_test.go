package repl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
)

// These tests drive the REPL's bubbletea model through a real program
// (teatest): keys typed, then exit(). Keys typed while a statement runs
// are applied once it has ended (typeahead), so a whole session can be
// typed at once; the final model is then read: its screen (View, without
// styles), transcript and run pane. Waits read the model on the program's
// goroutine (a probe message), never the terminal output, whose frames
// carry only what changed.

const debugFlow = "../flows/debug.star"

type uiSession struct {
	tm   *teatest.TestModel
	ui   *UI
	snap atomic.Pointer[snapshot]
}

// A snapshot is what a test may wait for, read on the program's own
// goroutine when a probeMsg passes (the model is not shared).
type snapshot struct {
	text     string
	running  bool
	paneRuns int // task runs the pane shows Running
}

type probeMsg struct{}

// startUI loads file and starts the REPL on it in a w×h terminal.
func startUI(t *testing.T, file string, w, h int) *uiSession {
	t.Helper()
	ui := NewUI()
	m, err := builtins.Load(file, builtins.LoadOptions{Print: ui.Print, OnRun: ui.OnRun, RunConcurrency: 1, Interactive: true})
	if err != nil {
		t.Fatal(err)
	}
	var bound *builtins.Flow
	if len(m.Flows) == 1 {
		bound = m.Flows[0]
	}
	s := New(m, Options{Print: ui.Print, Flow: bound})
	model := ui.NewModel(context.Background(), s, UIOptions{Title: file, Banner: Banner(m, bound), Width: w, Height: h})
	u := &uiSession{ui: ui}
	probe := func(tm tea.Model, msg tea.Msg) tea.Msg {
		if _, ok := msg.(probeMsg); ok {
			m := tm.(*Model)
			snap := &snapshot{text: text(m), running: m.running}
			if m.pane != nil {
				snap.paneRuns = m.pane.Count(runtime.Running)
			}
			u.snap.Store(snap)
		}
		return msg
	}
	u.tm = teatest.NewTestModel(t, model, teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithFilter(probe)))
	return u
}

// enter types line and presses Enter.
func (u *uiSession) enter(lines ...string) {
	for _, l := range lines {
		u.tm.Type(l)
		u.key(tea.KeyEnter)
	}
}

func (u *uiSession) key(code rune) { u.tm.Send(tea.KeyPressMsg{Code: code}) }

// finish types exit() and returns the final model.
func (u *uiSession) finish(t *testing.T) *Model {
	t.Helper()
	u.enter("exit()")
	return u.tm.FinalModel(t, teatest.WithFinalTimeout(30*time.Second)).(*Model)
}

// screen is what the model shows, without styles.
func screen(m *Model) string { return ansi.Strip(m.View().Content) }

// text is the transcript, without styles.
func text(m *Model) string {
	var b strings.Builder
	for _, l := range m.out.lines {
		b.WriteString(ansi.Strip(l) + "\n")
	}
	return b.String()
}

// paneDone checks the run pane's final state and its count of want.
func paneDone(t *testing.T, m *Model, state runtime.State, want runtime.State, n int) {
	t.Helper()
	if m.pane == nil {
		t.Fatal("no run pane")
	}
	if st, done := m.pane.Done(); !done || st != state {
		t.Errorf("run pane: state %v (done %v), want %v", st, done, state)
	}
	if got := m.pane.Count(want); got != n {
		t.Errorf("run pane: %d task runs %v, want %d", got, want, n)
	}
}

// wantInOrder checks that each of wants appears in s, in order.
func wantInOrder(t *testing.T, s string, wants ...string) {
	t.Helper()
	at := 0
	for _, w := range wants {
		i := strings.Index(s[at:], w)
		if i < 0 {
			t.Errorf("missing (in order) %q in:\n%s", w, s)
			return
		}
		at += i + len(w)
	}
}

func TestUIMockedRun(t *testing.T) {
	u := startUI(t, debugFlow, 140, 50)
	u.enter(`r = flow.run(task_states={"number": Success("Dummy Success", 10)})`,
		`r.result("cube")`,
		`r.states["number"]`)
	m := u.finish(t)
	wantInOrder(t, text(m),
		`flow "Debug" is debug, and `+"`flow`"+` at this prompt`,
		`>>> r = flow.run(task_states={"number": Success("Dummy Success", 10)})`,
		`>>> r.result("cube")`, "1000",
		`>>> r.states["number"]`, `<Success: "Dummy Success">`,
		`>>> exit()`)
	// The run pane beside the prompt shows the run: its tasks and states.
	paneDone(t, m, runtime.Success, runtime.Success, 4)
	if scr := screen(m); !sharesLine(scr, ">>> r.result(\"cube\")", "│") || !sharesLine(scr, "│", "number") {
		t.Errorf("the run pane is not beside the prompt:\n%s", screen(m))
	}
	if m.ExitCode() != 0 {
		t.Errorf("exit code %d", m.ExitCode())
	}
}

func TestUIMultiLineDefAndReplace(t *testing.T) {
	u := startUI(t, debugFlow, 140, 50)
	// A decorated def over several lines: Enter goes on to a new line until
	// the blank line that ends it.
	u.enter("@task(", "    retries=1,", ")", "def seven():", "    return 7", "")
	u.enter(`flow.replace(flow.get_tasks(name="number")[0], seven)`,
		`r = flow.run()`,
		`r.result("cube")`,
		`[t.name for t in flow.get_tasks()]`)
	m := u.finish(t)
	wantInOrder(t, text(m),
		">>> @task(", "...     retries=1,", "... )", "... def seven():", "...     return 7", "... \n",
		">>> flow.replace(",
		">>> r = flow.run()",
		`>>> r.result("cube")`, "343",
		`["seven", "square", "cube", "report"]`)
	if strings.Contains(text(m), "Error") || strings.Contains(text(m), "<stdin>:") {
		t.Errorf("unexpected error:\n%s", text(m))
	}
	paneDone(t, m, runtime.Success, runtime.Success, 4)
	wantInOrder(t, screen(m), "seven", "square", "cube", "report")
}

func TestUIErrorPositions(t *testing.T) {
	u := startUI(t, debugFlow, 140, 50)
	u.enter("x = 1 +* 2",
		`flow.run(task_states={"nope": Success()})`,
		"def half(n):", "    return n // 0", "",
		"half(3)")
	m := u.finish(t)
	// Lines count across the session: the def is on lines 3-5, the call on 6.
	wantInOrder(t, text(m),
		">>> x = 1 +* 2",
		"<stdin>:1:8: got '*', want primary expression",
		`<stdin>:2:9: run: task_states names no task "nope" (tasks: number, square, cube, report)`,
		"Traceback (most recent call last):",
		"  <stdin>:6:5: in <expr>",
		"  <stdin>:4:14: in half",
		"<stdin>:4:14: floored division by zero",
	)
	// Errors are drawn in red.
	var red int
	for _, l := range m.out.lines {
		if strings.Contains(l, "<stdin>:") && l != ansi.Strip(l) {
			red++
		}
	}
	if red < 3 {
		t.Errorf("%d styled error lines, want at least 3:\n%q", red, m.out.lines)
	}
}

func TestUICompletionAndHistory(t *testing.T) {
	u := startUI(t, debugFlow, 120, 40)
	u.enter(`r = flow.run(task_states={"number": Success("x", 2)})`)
	u.tm.Type("r.res")
	u.key(tea.KeyTab) // the only attribute of r that starts with "res"
	u.enter(`("cube")`)
	u.tm.Type("fl")
	u.key(tea.KeyTab) // float and flow: "flo"
	u.tm.Type("w.get_t")
	u.key(tea.KeyTab)
	u.enter(`(name="cube")[0].name`)
	// Up brings the last entry back; Enter runs it again.
	u.key(tea.KeyUp)
	u.key(tea.KeyEnter)
	m := u.finish(t)
	wantInOrder(t, text(m),
		`>>> r.result("cube")`, "8",
		`>>> flow.get_tasks(name="cube")[0].name`, `"cube"`,
		`>>> flow.get_tasks(name="cube")[0].name`, `"cube"`)
}

func TestUIInterrupt(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "spin.star")
	src := "@task\ndef spin():\n    while True:\n        pass\n\n@flow\ndef f():\n    spin()\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	u := startUI(t, file, 120, 40)
	u.enter("r = flow.run()")
	// Ctrl-C cancels the run; the statement stops; the prompt goes on.
	u.waitFor(t, "the task to run", func(s *snapshot) bool { return s.paneRuns == 1 })
	u.tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	u.waitFor(t, "the statement to stop", func(s *snapshot) bool { return !s.running && strings.Contains(s.text, "interrupted") })
	// A loop at the prompt stops too.
	u.enter("while True:", "    pass", "")
	u.waitFor(t, "the loop to run", func(s *snapshot) bool { return s.running && strings.Contains(s.text, ">>> while True:") })
	u.tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	m := u.finish(t)
	wantInOrder(t, text(m),
		">>> r = flow.run()", "<stdin>:1:13: interrupted",
		">>> while True:", "<stdin>:2:1: interrupted",
		">>> exit()")
	paneDone(t, m, runtime.Cancelled, runtime.Cancelled, 1)
}

// waitFor waits until the model satisfies cond.
func (u *uiSession) waitFor(t *testing.T, what string, cond func(*snapshot) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		u.tm.Send(probeMsg{})
		time.Sleep(10 * time.Millisecond)
		if s := u.snap.Load(); s != nil && cond(s) {
			return
		}
	}
	t.Fatalf("waited 20s for %s", what)
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
