package store

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// perRun is a Sink that records each run fed to it with a Recorder of its
// own, as wfsh makes one per run, and closes it when the run finishes.
type perRun struct {
	s  *Store
	mu sync.Mutex
	n  int
	r  *Recorder
}

func (p *perRun) Emit(e runtime.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Kind == runtime.FlowStarted {
		p.n++
		p.r = p.s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "run-" + strconv.Itoa(p.n), Flow: "sample"}})
	}
	p.r.Emit(e)
}

// TestRecorderConforms runs the store's Recorder through the Sink
// conformance test: what a run's rows say, read back, is each task run's
// final state, every log line and the flow's final state.
func TestRecorderConforms(t *testing.T) { eachBackend(t, testRecorderConforms) }

func testRecorderConforms(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	sink := &perRun{s: s}
	runtimetest.TestSink(t, sink, runtimetest.Keeps{Logs: true, Flow: true}, func() []runtimetest.Fact {
		sink.mu.Lock()
		r, id := sink.r, "run-"+strconv.Itoa(sink.n)
		sink.mu.Unlock()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		var facts []runtimetest.Fact
		trs, err := s.TaskRuns(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trs {
			if tr.Kind == "task" {
				facts = append(facts, runtimetest.Fact{Kind: runtime.TaskState, TaskRun: tr.Name, State: tr.State})
			}
		}
		run, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		facts = append(facts, runtimetest.Fact{Kind: runtime.FlowFinished, State: run.State})
		err = s.EachLog(ctx, id, LogFilter{}, func(e *runtime.Event) error {
			if e.Kind == runtime.TaskLog {
				facts = append(facts, runtimetest.Fact{Kind: e.Kind, TaskRun: e.TaskRun, Msg: e.Msg})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return facts
	})
}
