package runtime_test

import (
	"context"
	"testing"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// TestSnapshotAgreesWithResult: the state folded from a run's events is
// the state the executor reports: the flow's, each task run's, mapped
// children's, with their attempts, messages and children counts.
func TestSnapshotAgreesWithResult(t *testing.T) {
	for _, conc := range []int{1, 4} {
		s := runtime.NewSnapshot()
		var rec runtimetest.Recorder
		res := runtime.Run(context.Background(), runtimetest.SampleGraph(), runtime.Options{
			RunID: "snap", Concurrency: conc, Sink: runtime.Tee(&rec, runtime.SinkFunc(s.Apply))})
		if s.State != res.State || s.Msg != res.Msg || s.RunID != "snap" || s.Flow != "sample" {
			t.Errorf("flow: %v %q %s %s, want %v %q snap sample", s.State, s.Msg, s.RunID, s.Flow, res.State, res.Msg)
		}
		if s.Ended.Before(s.Started) || s.Started.IsZero() {
			t.Errorf("flow times %v .. %v", s.Started, s.Ended)
		}
		check := func(tr runtime.TaskResult, node string, index int) {
			r := s.Runs[tr.Name]
			if r == nil {
				t.Errorf("%s: not in the snapshot", tr.Name)
				return
			}
			if r.State != tr.State || r.Msg != tr.Msg || r.NodeName != node || r.MapIndex != index {
				t.Errorf("%s: %v %q node %s [%d], want %v %q node %s [%d]", tr.Name, r.State, r.Msg, r.NodeName, r.MapIndex,
					tr.State, tr.Msg, node, index)
			}
			if tr.Attempts > 0 && r.Attempt != tr.Attempts {
				t.Errorf("%s: attempt %d, want %d", tr.Name, r.Attempt, tr.Attempts)
			}
			if r.Final() && r.Ended.IsZero() {
				t.Errorf("%s: final without an end time", tr.Name)
			}
		}
		for _, tr := range res.Tasks {
			check(tr, tr.Name, -1)
			if len(tr.Children) > 0 && s.Runs[tr.Name].Children != len(tr.Children) {
				t.Errorf("%s: %d children, want %d", tr.Name, s.Runs[tr.Name].Children, len(tr.Children))
			}
			for i, c := range tr.Children {
				check(c, tr.Name, i)
			}
		}
		if got := s.Runs["list"].Logs; got != len(rec.Logs("list")) || got == 0 {
			t.Errorf("list: %d log lines, want %d", got, len(rec.Logs("list")))
		}
		counts := s.Counts()
		if counts[runtime.Failed] != 1 { // square[1]
			t.Errorf("counts %v, want one Failed", counts)
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
