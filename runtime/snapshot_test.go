package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// TestSnapshotAgreesWithResult: the state folded from a run's events is
// the state the executor reports: the flow's, each node's run, mapped
// children's, with their attempts, messages and counts.
func TestSnapshotAgreesWithResult(t *testing.T) {
	for _, conc := range []int{1, 4} {
		var s runtime.Snapshot
		var rec runtimetest.Recorder
		res := runtime.Run(context.Background(), runtimetest.SampleGraph(), runtime.Options{
			RunID: "snap", Concurrency: conc, Sink: runtime.Tee(&rec, runtime.SinkFunc(s.Apply))})
		if s.State != res.State || s.Msg != res.Msg || s.RunID != "snap" || s.Flow != "sample" {
			t.Errorf("flow: %v %q %s %s, want %v %q snap sample", s.State, s.Msg, s.RunID, s.Flow, res.State, res.Msg)
		}
		if s.Ended.Before(s.Started) || s.Started.IsZero() {
			t.Errorf("flow times %v .. %v", s.Started, s.Ended)
		}
		check := func(r *runtime.RunSnapshot, tr runtime.TaskResult) {
			if r.State != tr.State || s.RunMsg(r) != tr.Msg {
				t.Errorf("%s: %v %q, want %v %q", tr.Name, r.State, s.RunMsg(r), tr.State, tr.Msg)
			}
			if tr.Attempts > 0 && int(r.Attempt) != tr.Attempts {
				t.Errorf("%s: attempt %d, want %d", tr.Name, r.Attempt, tr.Attempts)
			}
			if r.State.Finished() && r.Ended == 0 {
				t.Errorf("%s: final without an end time", tr.Name)
			}
		}
		for id, tr := range res.Tasks {
			if id >= len(s.Nodes) || !s.Nodes[id].Seen {
				t.Errorf("%s: not in the snapshot", tr.Name)
				continue
			}
			n := &s.Nodes[id]
			if n.Name != tr.Name {
				t.Errorf("node %d named %q, want %q", id, n.Name, tr.Name)
			}
			check(&n.Run, tr)
			if len(n.Children) != len(tr.Children) || n.Expected != len(tr.Children) {
				t.Errorf("%s: %d children (%d expected), want %d", tr.Name, len(n.Children), n.Expected, len(tr.Children))
			}
			failed := 0
			for i, c := range tr.Children {
				check(&n.Children[i], c)
				if !c.State.Successful() {
					failed++
				}
			}
			if n.Finished != len(tr.Children) || n.Failed != failed {
				t.Errorf("%s: %d finished, %d failed, want %d, %d", tr.Name, n.Finished, n.Failed, len(tr.Children), failed)
			}
		}
		if got := int(s.Nodes[1].Run.Logs); got != len(rec.Logs("list")) || got == 0 {
			t.Errorf("list: %d log lines, want %d", got, len(rec.Logs("list")))
		}
		counts := s.Counts(nil)
		total := 0
		for _, n := range counts {
			total += n
		}
		if total == 0 || counts[runtime.Skipped] != 1 {
			t.Errorf("counts %v, want the skipper's Skipped among them", counts)
		}
	}
}

func TestNodeRun(t *testing.T) {
	for _, tc := range []struct {
		e    runtime.Event
		want string
	}{
		{runtime.Event{TaskRun: "sq[3]", NodeName: "sq", MapIndex: 3}, "sq"},
		{runtime.Event{TaskRun: "a[b][12]", MapIndex: 12}, "a[b]"}, // read back: no NodeName
		{runtime.Event{TaskRun: "x[1]", MapIndex: -1}, "x[1]"},     // a node named so
		{runtime.Event{TaskRun: "plain", MapIndex: -1}, "plain"},
	} {
		if got := tc.e.NodeRun(); got != tc.want {
			t.Errorf("NodeRun of %+v = %q, want %q", tc.e, got, tc.want)
		}
	}
}

// BenchmarkSnapshotApply folds the events of a 100,000-child map: it must
// stay a small part of W2's run.
func BenchmarkSnapshotApply(b *testing.B) {
	const n = 100000
	events := []runtime.Event{{Kind: runtime.MapExpanded, Node: 1, NodeName: "sq", TaskRun: "sq", MapIndex: -1, Children: n}}
	for i := range n {
		events = append(events,
			runtime.Event{Kind: runtime.TaskState, Node: 1, NodeName: "sq", MapIndex: i, State: runtime.Running},
			runtime.Event{Kind: runtime.TaskState, Node: 1, NodeName: "sq", MapIndex: i, State: runtime.Success})
	}
	b.ReportAllocs()
	for b.Loop() {
		var s runtime.Snapshot
		for i := range events {
			s.Apply(events[i])
		}
	}
}

// TestSnapshotCounts: ByState counts a listed graph's task runs, Pending
// until they begin, mapped children from MapExpanded on (parameters not),
// and a mapped task's own run is Running while its children run.
func TestSnapshotCounts(t *testing.T) {
	g := &runtime.Graph{Flow: "f"}
	g.Add(&runtime.Node{Name: "p", Kind: runtime.ParamNode})
	g.Add(&runtime.Node{Name: "a"})
	g.Add(&runtime.Node{Name: "sq", Mapped: true})
	var s runtime.Snapshot
	s.List(g)
	want := func(step string, total int, counts map[runtime.State]int) {
		t.Helper()
		got := map[runtime.State]int{}
		for st, n := range s.ByState {
			if n != 0 {
				got[runtime.State(st)] = n
			}
		}
		if s.Total != total || len(got) != len(counts) {
			t.Fatalf("%s: %d runs %v, want %d %v", step, s.Total, got, total, counts)
		}
		for st, n := range counts {
			if got[st] != n {
				t.Fatalf("%s: %d runs %v, want %d %v", step, s.Total, got, total, counts)
			}
		}
	}
	want("listed", 2, map[runtime.State]int{runtime.Pending: 2})
	at := time.Unix(100, 0)
	s.Apply(runtime.Event{Kind: runtime.TaskState, Node: 0, TaskRun: "p", MapIndex: -1, State: runtime.Success, Time: at})
	s.Apply(runtime.Event{Kind: runtime.TaskState, Node: 1, TaskRun: "a", MapIndex: -1, Attempt: 1, State: runtime.Running, Time: at})
	want("a running", 2, map[runtime.State]int{runtime.Pending: 1, runtime.Running: 1})
	s.Apply(runtime.Event{Kind: runtime.MapExpanded, Node: 2, TaskRun: "sq", MapIndex: -1, Children: 3, Time: at.Add(time.Second)})
	want("mapped", 5, map[runtime.State]int{runtime.Pending: 3, runtime.Running: 2})
	if n := &s.Nodes[2]; len(n.Children) != 3 || cap(n.Children) != 3 || n.Run.Started != at.Add(time.Second).UnixNano() {
		t.Errorf("sq: %d children (cap %d), started %d", len(n.Children), cap(n.Children), n.Run.Started)
	}
	s.Apply(runtime.Event{Kind: runtime.TaskState, Node: 2, TaskRun: "sq[1]", MapIndex: 1, Attempt: 1, State: runtime.Failed, Time: at})
	s.Apply(runtime.Event{Kind: runtime.TaskState, Node: 1, TaskRun: "a", MapIndex: -1, State: runtime.Skipped, Time: at})
	want("ended", 5, map[runtime.State]int{runtime.Pending: 2, runtime.Running: 1, runtime.Failed: 1, runtime.Skipped: 1})
	if a := s.Nodes[1].Run; a.Attempt != 1 || a.Ended != at.UnixNano() {
		t.Errorf("a: attempt %d, ended %d: an event of no attempt keeps the last", a.Attempt, a.Ended)
	}
}

// TestSnapshotNamesNodes: events read back from a store name no node;
// their runs are kept by run name, a mapped task's children under it.
func TestSnapshotNamesNodes(t *testing.T) {
	var s runtime.Snapshot
	for _, e := range []runtime.Event{
		{Kind: runtime.FlowStarted, Node: runtime.NoNode, MapIndex: -1, Msg: "F"},
		{Kind: runtime.TaskLog, Node: runtime.NoNode, MapIndex: -1, Msg: "a flow's line"},
		{Kind: runtime.TaskState, Node: runtime.NoNode, TaskRun: "a", MapIndex: -1, State: runtime.Success},
		{Kind: runtime.MapExpanded, Node: runtime.NoNode, TaskRun: "sq", MapIndex: -1, Children: 2},
		{Kind: runtime.TaskState, Node: runtime.NoNode, TaskRun: "sq[1]", MapIndex: 1, State: runtime.Failed},
		{Kind: runtime.TaskState, Node: runtime.NoNode, TaskRun: "sq", MapIndex: -1, State: runtime.Failed},
	} {
		s.Apply(e)
	}
	if len(s.Nodes) != 2 || s.Nodes[0].Name != "a" || s.Nodes[1].Name != "sq" {
		t.Fatalf("nodes %+v, want a and sq", s.Nodes)
	}
	if sq := s.Nodes[1]; len(sq.Children) != 2 || sq.Failed != 1 || sq.Run.State != runtime.Failed {
		t.Errorf("sq: %d children, %d failed, %v", len(sq.Children), sq.Failed, sq.Run.State)
	}
	if c := s.Counts(nil); c[runtime.Success] != 1 || c[runtime.Failed] != 1 {
		t.Errorf("counts %v", c)
	}
}

// TestSnapshotRunMsg: a run's message is its last state change's, a
// later one replacing it, an empty one clearing it.
func TestSnapshotRunMsg(t *testing.T) {
	var s runtime.Snapshot
	ev := func(st runtime.State, msg string) runtime.Event {
		return runtime.Event{Kind: runtime.TaskState, Node: 0, MapIndex: 3, TaskRun: "sq[3]", State: st, Msg: msg, Attempt: 1}
	}
	for _, c := range []struct {
		st   runtime.State
		msg  string
		want string
	}{
		{runtime.Running, "", ""},
		{runtime.Retrying, "boom", "boom"},
		{runtime.Running, "", ""},
		{runtime.Failed, "boom again", "boom again"},
	} {
		s.Apply(ev(c.st, c.msg))
		r := &s.Nodes[0].Children[3]
		if got := s.RunMsg(r); got != c.want || r.State != c.st {
			t.Fatalf("after %v %q: %v %q, want %q", c.st, c.msg, r.State, got, c.want)
		}
	}
}
