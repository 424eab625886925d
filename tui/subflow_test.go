package tui

import (
	"strings"
	"testing"

	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// TestAppSubflow runs a flow with subflows under the App (teatest): a
// subflow's row expands (enter) to its child flow run's task runs, named
// under it, with their own logs; left from one of them collapses it. A
// mapped subflow's children expand the same way, one child run each.
func TestAppSubflow(t *testing.T) {
	r := startLive(t, runtimetest.SubflowGraph(), nil)
	r.wait(t, "the run's end", isDone)
	r.keys("g")
	sel := func(want string) snapshot {
		t.Helper()
		return r.wait(t, "selection of "+want, func(s snapshot) bool { return s.selected == want })
	}
	down := func(to string) snapshot {
		t.Helper()
		for range 20 {
			r.keys("j")
			s := r.wait(t, "a move", func(snapshot) bool { return true })
			if s.selected == to {
				return s
			}
		}
		t.Fatalf("no row %s below", to)
		return snapshot{}
	}
	s := down("report")
	if strings.Contains(s.view, "fetch") || !strings.Contains(s.view, "▸ report") {
		t.Fatalf("a closed subflow lists its tasks, or has no ▸:\n%s", s.view)
	}
	if !strings.Contains(s.view, "── report · Success · ") || !strings.Contains(s.view, " · flow run ") {
		t.Errorf("the pane of the subflow's row does not name its flow run:\n%s", s.view)
	}
	r.keys("enter")
	s = r.wait(t, "the subflow's rows", func(s snapshot) bool { return strings.Contains(s.view, "▾ report") })
	if !strings.Contains(s.view, "  fetch ") {
		t.Fatalf("the open subflow does not list its task fetch:\n%s", s.view)
	}
	r.keys("j", "j")
	s = sel("report/fetch")
	if !strings.Contains(s.view, "── report/fetch · Success") || !strings.Contains(s.view, "fetching d0") {
		t.Errorf("the child task's pane:\n%s", s.view)
	}
	r.keys("left")
	s = sel("report")
	if strings.Contains(s.view, "  fetch ") {
		t.Errorf("left from a child run's row left it open:\n%s", s.view)
	}

	down("report-2")
	r.keys("enter", "j", "j")
	sel("report-2[1]")
	r.keys("enter")
	r.wait(t, "the mapped child's rows", func(s snapshot) bool { return strings.Contains(s.view, "▾ report-2[1]") })
	r.keys("j", "j")
	s = sel("report-2[1]/fetch")
	if !strings.Contains(s.view, "report-2[1]/fetch · Failed") || !strings.Contains(s.view, "no data for bad") {
		t.Errorf("the failed child task's pane:\n%s", s.view)
	}
	if n := strings.Count(s.view, "  fetch "); n != 1 {
		t.Errorf("%d fetch rows listed, want the one open child run's:\n%s", n, s.view)
	}
}
