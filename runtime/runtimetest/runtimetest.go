// Package runtimetest helps test code that consumes or produces runtime
// events: a recording Sink, and a conformance test every Sink must pass.
package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// Recorder is a Sink that keeps every event. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []runtime.Event
}

// Emit records e.
func (r *Recorder) Emit(e runtime.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of what was recorded.
func (r *Recorder) Events() []runtime.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]runtime.Event(nil), r.events...)
}

// States returns the successive states of the task run named name.
func (r *Recorder) States(name string) []runtime.State {
	var out []runtime.State
	for _, e := range r.Events() {
		if e.Kind == runtime.TaskState && e.TaskRun == name {
			out = append(out, e.State)
		}
	}
	return out
}

// Logs returns the log lines of the task run named name.
func (r *Recorder) Logs(name string) []string {
	var out []string
	for _, e := range r.Events() {
		if e.Kind == runtime.TaskLog && e.TaskRun == name {
			out = append(out, e.Msg)
		}
	}
	return out
}

// ListValues is a runtime.ValueOps over []any, for graphs built in Go.
type ListValues struct{}

// Split returns v's elements when v is a []any.
func (ListValues) Split(v runtime.Value) ([]runtime.Value, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a list")
	}
	return l, nil
}

// Join returns vs.
func (ListValues) Join(vs []runtime.Value) runtime.Value { return vs }

// Func is a task body built from a plain function of the inputs.
func Func(f func(in []any) (any, error)) runtime.Body {
	return runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
		return f(c.Inputs)
	})
}

// SampleGraph returns a small graph that exercises every event kind: a
// parameter, logs, a map with a failing child, a skip and a cleanup task.
func SampleGraph() *runtime.Graph {
	g := &runtime.Graph{Flow: "sample", Values: ListValues{}}
	task := func(name string, body runtime.Body, in ...runtime.Input) runtime.NodeID {
		return g.Add(&runtime.Node{Name: name, Task: name, Trigger: runtime.AllSuccessful,
			SkipOnUpstreamSkip: true, Body: body, Inputs: in})
	}
	p := g.Add(&runtime.Node{Name: "n", Task: "n", Kind: runtime.ParamNode,
		Body: Func(func([]any) (any, error) { return int64(3), nil })})
	list := task("list", runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
		c.Log(runtime.Info, "making a list")
		return []any{int64(1), int64(2), int64(3)}, nil
	}), runtime.Input{From: p})
	sq := task("square", Func(func(in []any) (any, error) {
		if in[0].(int64) == 2 {
			return nil, errors.New("two is not allowed")
		}
		return in[0].(int64) * in[0].(int64), nil
	}), runtime.Input{From: list, Map: true})
	g.Nodes[sq].Mapped = true
	skip := task("skipper", Func(func([]any) (any, error) {
		return nil, &runtime.Signal{State: runtime.Skipped, Msg: "nothing to do"}
	}))
	clean := task("cleanup", Func(func([]any) (any, error) { return nil, nil }))
	g.Nodes[clean].Upstream = []runtime.NodeID{sq, skip}
	g.Nodes[clean].Trigger = runtime.AllFinished
	return g
}

// Fact is what a sink kept of one event, read back from what it made (a
// log line, a JSON line, a row).
type Fact struct {
	Kind    runtime.Kind
	TaskRun string        // "" for flow events
	State   runtime.State // TaskState and FlowFinished
	Msg     string        // TaskLog: the line
}

// Keeps says which events a sink must keep (as slogtest's results say
// which attributes a handler must keep).
type Keeps struct {
	// States: every TaskState event; else only each task run's last.
	States bool
	// Logs: every TaskLog line.
	Logs bool
	// Flow: the flow's final state (FlowFinished).
	Flow bool
}

// TestSink feeds a Sink the events of real runs, from concurrent goroutines
// as the executor does, and checks that it survives them: no panic, no race
// (under -race), no blocking. With results, it then checks what the sink
// made of each run: results reads it back (what the sink made since the
// last call), and each fact keeps must be there, and nothing that was not
// sent.
func TestSink(t *testing.T, sink runtime.Sink, keeps Keeps, results func() []Fact) {
	t.Helper()
	for i := range 3 {
		rec := &Recorder{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.Run(context.Background(), SampleGraph(), runtime.Options{
				RunID: "conformance", Concurrency: i + 1, Sink: runtime.Tee(rec, sink)})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("sink blocked the executor for 10s")
		}
		events := rec.Events()
		if len(events) == 0 || events[len(events)-1].Kind != runtime.FlowFinished {
			t.Fatalf("run did not finish: %d events", len(events))
		}
		if results != nil {
			checkFacts(t, Expected(events, keeps), sentFacts(events), results())
		}
	}
}

// Expected lists the facts a sink that keeps keeps must have made of
// events.
func Expected(events []runtime.Event, keeps Keeps) []Fact {
	var want []Fact
	last := map[string]int{} // task run -> index in want of its last state
	for _, e := range events {
		switch {
		case e.Kind == runtime.TaskState && keeps.States:
			want = append(want, Fact{Kind: e.Kind, TaskRun: e.TaskRun, State: e.State})
		case e.Kind == runtime.TaskState:
			f := Fact{Kind: e.Kind, TaskRun: e.TaskRun, State: e.State}
			if i, ok := last[e.TaskRun]; ok {
				want[i] = f
			} else {
				last[e.TaskRun] = len(want)
				want = append(want, f)
			}
		case e.Kind == runtime.TaskLog && keeps.Logs:
			want = append(want, Fact{Kind: e.Kind, TaskRun: e.TaskRun, Msg: e.Msg})
		case e.Kind == runtime.FlowFinished && keeps.Flow:
			want = append(want, Fact{Kind: e.Kind, State: e.State})
		}
	}
	return want
}

// sentFacts are the facts of every event sent.
func sentFacts(events []runtime.Event) map[Fact]int {
	m := map[Fact]int{}
	for _, e := range events {
		f := Fact{Kind: e.Kind, TaskRun: e.TaskRun}
		switch e.Kind {
		case runtime.TaskState, runtime.FlowFinished:
			f.State = e.State
		case runtime.TaskLog:
			f.Msg = e.Msg
		}
		m[f]++
	}
	return m
}

func checkFacts(t *testing.T, want []Fact, sent map[Fact]int, got []Fact) {
	t.Helper()
	have := map[Fact]int{}
	for _, f := range got {
		have[f]++
		if sent[f] == 0 {
			t.Errorf("the sink made %+v, which no event says", f)
		}
	}
	need := map[Fact]int{}
	for _, f := range want {
		need[f]++
	}
	for f, n := range need {
		if have[f] < n {
			t.Errorf("the sink kept %d of %d %+v", have[f], n, f)
		}
	}
}

// SubflowGraph returns a flow "month" calling the flow "report" twice: once
// on a task's result, and mapped over a list of two days, the second of
// which fails. A report logs a line and returns its day.
func SubflowGraph() *runtime.Graph {
	report := &runtime.Graph{Flow: "report", Values: ListValues{}}
	day := report.Add(&runtime.Node{Name: "day", Task: "day", Kind: runtime.ParamNode, Body: Func(func([]any) (any, error) { return nil, nil })})
	report.Params = []runtime.NodeID{day}
	fetch := report.Add(&runtime.Node{Name: "fetch", Task: "fetch", Trigger: runtime.AllSuccessful, SkipOnUpstreamSkip: true,
		Inputs: []runtime.Input{{From: day}}, Body: runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
			c.Log(runtime.Info, fmt.Sprintf("fetching %v", c.Inputs[0]))
			if c.Inputs[0] == "bad" {
				return nil, errors.New("no data for bad")
			}
			return c.Inputs[0], nil
		})})
	report.Reference, report.Returns = []runtime.NodeID{fetch}, runtime.ReturnsOne

	g := &runtime.Graph{Flow: "month", Values: ListValues{}}
	task := func(name string, body runtime.Body, in ...runtime.Input) runtime.NodeID {
		return g.Add(&runtime.Node{Name: name, Task: name, Trigger: runtime.AllSuccessful,
			SkipOnUpstreamSkip: true, Body: body, Inputs: in})
	}
	args := Func(func(in []any) (any, error) { return in, nil })
	first := task("first", Func(func([]any) (any, error) { return "d0", nil }))
	one := task("report", args, runtime.Input{From: first})
	days := task("days", Func(func([]any) (any, error) { return []any{"d1", "bad"}, nil }))
	many := task("report-2", args, runtime.Input{From: days, Map: true})
	for _, id := range []runtime.NodeID{one, many} {
		g.Nodes[id].Kind, g.Nodes[id].Sub, g.Nodes[id].Task = runtime.FlowNode, report, "report"
	}
	g.Nodes[many].Mapped = true
	g.Nodes[many].Upstream = []runtime.NodeID{one}
	return g
}
