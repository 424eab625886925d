package tui

import (
	"strings"
	"testing"

	"github.com/wfsh/wfsh/runtime"
)

// TestNamesEscaped: control characters in the flow's and the tasks' names
// (a newline, NUL, an escape sequence) are drawn escaped: the view keeps
// its height and carries none of them raw, with a graph and without.
func TestNamesEscaped(t *testing.T) {
	const flow, task, mapped = "F\x1b[2J\nforged", "a\nb\x00c", "m\x1b]0;title\x07"
	g := &runtime.Graph{Flow: flow}
	g.Add(&runtime.Node{Name: task, Task: task})
	g.Add(&runtime.Node{Name: mapped, Task: mapped, Mapped: true})
	s := &script{runID: "0d6f2c1e-run"}
	s.add(runtime.Event{Kind: runtime.FlowStarted, Msg: flow})
	s.state(0, task, -1, 1, runtime.Running, "")
	s.log(0, task, -1, runtime.Info, "hello")
	s.state(0, task, -1, 1, runtime.Success, "")
	s.add(runtime.Event{Kind: runtime.MapExpanded, Node: 1, TaskRun: mapped, MapIndex: -1, Children: 1})
	s.state(1, mapped, 0, 1, runtime.Running, "")
	s.state(1, mapped, 0, 1, runtime.Failed, "boom\x1b[2J")
	s.add(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Failed, Msg: "failed\x00\nat once"})
	for _, graph := range []*runtime.Graph{g, nil} {
		m := newTestModel(graph, s, 100, 16)
		press(m, "g", "j", "enter", "j")
		view := m.View()
		if n := strings.Count(view, "\n") + 1; n != 16 {
			t.Errorf("graph %v: the view has %d lines, want 16:\n%s", graph != nil, n, view)
		}
		for _, raw := range []string{"\x00", "\x1b[2J", "\x1b]0;", "\x07", "\nforged", "\nb"} {
			if strings.Contains(view, raw) {
				t.Errorf("graph %v: the view holds %q raw:\n%s", graph != nil, raw, view)
			}
		}
		p := plain(m)
		for _, esc := range []string{`F\x1b[2J\nforged`, `a\nb\x00c`} {
			if !strings.Contains(p, esc) {
				t.Errorf("graph %v: the view lacks %s:\n%s", graph != nil, esc, p)
			}
		}
	}
}
