package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// TestEachLogTree records a run, its subflow's child run and that one's
// child run, and reads the run's log with theirs merged in: in the order
// of their times, each run's in its own, the parent's first at an equal
// time (the parent's log line and the child's start, both at 2 s: the
// times of task states read back are not exact to the nanosecond); a
// child run's entries name their parent and its task run. With --task of
// another task, no child run's.
func TestEachLogTree(t *testing.T) { eachBackend(t, testEachLogTree) }

func testEachLogTree(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	// run makes events of run id: "kind task at" each, at t0 + at seconds.
	run := func(id string, specs ...string) []runtime.Event {
		var evs []runtime.Event
		for i, sp := range specs {
			var kind, task string
			var at int
			fmt.Sscan(sp, &kind, &task, &at)
			e := runtime.Event{RunID: id, Seq: uint64(i + 1), Time: t0.Add(time.Duration(at) * time.Second), MapIndex: -1, Node: runtime.NoNode, Attempt: 1}
			switch kind {
			case "start":
				e.Kind, e.Msg = runtime.FlowStarted, id
			case "end":
				e.Kind, e.State = runtime.FlowFinished, runtime.Success
			case "running", "success":
				e.Kind, e.TaskRun, e.State = runtime.TaskState, task, runtime.Running
				if kind == "success" {
					e.State = runtime.Success
				}
			case "log":
				e.Kind, e.TaskRun, e.Level, e.Msg = runtime.TaskLog, task, runtime.Info, "a line"
			}
			evs = append(evs, e)
		}
		return evs
	}
	recordRun(t, s, "p", "P", run("p", "start - 0", "running sub 1", "log sub 2", "success sub 6", "running other 6", "success other 7", "end - 8"), RecorderOptions{})
	recordRun(t, s, "c", "C", run("c", "start - 2", "running inner 2", "success inner 5", "end - 5"),
		RecorderOptions{Run: RunInfo{Parent: "p", ParentTaskRun: "sub"}})
	recordRun(t, s, "g", "G", run("g", "start - 3", "running t 3", "log t 4", "success t 4", "end - 4"),
		RecorderOptions{Run: RunInfo{Parent: "c", ParentTaskRun: "inner"}})
	for id, want := range map[string]bool{"p": true, "c": true, "g": false} {
		if got, err := s.HasSubflowRuns(ctx, id); err != nil || got != want {
			t.Errorf("HasSubflowRuns(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	tree := func(f LogFilter) []string {
		t.Helper()
		var got []string
		err := s.EachLogTree(ctx, "p", f, func(e *runtime.Event) error {
			s := fmt.Sprintf("%s %s %s", e.RunID, e.Kind, e.TaskRun)
			if e.Kind == runtime.TaskState {
				s += " " + e.State.String()
			}
			if e.Parent != "" {
				s += " of " + e.Parent + "/" + e.ParentTaskRun
			}
			got = append(got, strings.TrimSpace(s))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	fs, fe, ts, tl := runtime.FlowStarted, runtime.FlowFinished, runtime.TaskState, runtime.TaskLog
	want := []string{
		fmt.Sprintf("p %s", fs), fmt.Sprintf("p %s sub Running", ts), fmt.Sprintf("p %s sub", tl),
		fmt.Sprintf("c %s  of p/sub", fs), fmt.Sprintf("c %s inner Running of p/sub", ts),
		fmt.Sprintf("g %s  of c/inner", fs), fmt.Sprintf("g %s t Running of c/inner", ts), fmt.Sprintf("g %s t of c/inner", tl),
		fmt.Sprintf("g %s t Success of c/inner", ts), fmt.Sprintf("g %s  of c/inner", fe),
		fmt.Sprintf("c %s inner Success of p/sub", ts), fmt.Sprintf("c %s  of p/sub", fe),
		fmt.Sprintf("p %s sub Success", ts), fmt.Sprintf("p %s other Running", ts), fmt.Sprintf("p %s other Success", ts), fmt.Sprintf("p %s", fe),
	}
	if got := tree(LogFilter{}); !slices.Equal(got, want) {
		t.Errorf("the tree's log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := tree(LogFilter{Task: "sub"}); len(got) != len(want)-2 {
		t.Errorf("with --task sub, %d entries, want %d (all but other's):\n%s", len(got), len(want)-2, strings.Join(got, "\n"))
	}
	wantOther := []string{fmt.Sprintf("p %s", fs), fmt.Sprintf("p %s other Running", ts), fmt.Sprintf("p %s other Success", ts), fmt.Sprintf("p %s", fe)}
	if got := tree(LogFilter{Task: "other"}); !slices.Equal(got, wantOther) {
		t.Errorf("with --task other:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantOther, "\n"))
	}
}
