package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// childGraph is a flow of one parameter n whose result is double(n); with
// fail set, double fails.
func childGraph(fail bool) *runtime.Graph {
	b := newBuilder()
	b.g.Flow = "child"
	p := b.g.Add(&runtime.Node{Name: "n", Task: "n", Kind: runtime.ParamNode, Trigger: runtime.AllSuccessful,
		Body: runtimetest.Func(constant(nil))})
	b.g.Params = []runtime.NodeID{p}
	d := b.task("double", func(in []any) (any, error) {
		if fail {
			return nil, errors.New("no")
		}
		return in[0].(int) * 2, nil
	}, p)
	b.g.Reference, b.g.Returns = []runtime.NodeID{d.ID}, runtime.ReturnsOne
	return b.g
}

// subflow adds a node to b running child with the inputs' values as its
// parameters.
func (b *builder) subflow(name string, child *runtime.Graph, in ...runtime.NodeID) *runtime.Node {
	n := b.task(name, func(in []any) (any, error) { return in, nil }, in...)
	n.Kind, n.Sub = runtime.FlowNode, child
	return n
}

func TestSubflowRunsAsChildRun(t *testing.T) {
	b := newBuilder()
	a := b.task("a", constant(21))
	sf := b.subflow("child", childGraph(false), a.ID)
	after := b.task("after", func(in []any) (any, error) { return in[0].(int) + 1, nil }, sf.ID)
	res, rec := run(t, b.g, runtime.Options{})
	if res.State != runtime.Success || res.Tasks[after.ID].Value != 43 {
		t.Fatalf("flow %s, after = %v", res.State, res.Tasks[after.ID].Value)
	}
	sub := res.Tasks[sf.ID].Sub
	if sub == nil || sub.State != runtime.Success || sub.RunID == "" || sub.RunID == "run-1" || sub.Value != 42 {
		t.Fatalf("child run: %+v", sub)
	}
	var child []runtime.Event
	for _, e := range rec.Events() {
		if e.RunID == sub.RunID {
			child = append(child, e)
		}
	}
	if len(child) == 0 || child[0].Kind != runtime.FlowStarted || child[len(child)-1].Kind != runtime.FlowFinished {
		t.Fatalf("child events: %+v", child)
	}
	for _, e := range child {
		if e.Parent != "run-1" || e.ParentTaskRun != "child" || e.Flow != "child" {
			t.Fatalf("child event without its parent: %+v", e)
		}
	}
	if logs := rec.Logs("child"); len(logs) != 1 || logs[0] != "child flow run "+sub.RunID+" of flow child" {
		t.Errorf("subflow node logs %q", logs)
	}
}

func TestSubflowFailureRollsUp(t *testing.T) {
	b := newBuilder()
	a := b.task("a", constant(1))
	sf := b.subflow("child", childGraph(true), a.ID)
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, sf.ID, runtime.Failed)
	if res.State != runtime.Failed || res.Tasks[sf.ID].Sub.State != runtime.Failed {
		t.Fatalf("flow %s, child %s", res.State, res.Tasks[sf.ID].Sub.State)
	}
}

func TestSubflowMapped(t *testing.T) {
	b := newBuilder()
	l := b.task("l", constant([]any{1, 2, 3}))
	sf := b.subflow("child", childGraph(false), l.ID)
	sf.Mapped, sf.Inputs[0].Map = true, true
	res, _ := run(t, b.g, runtime.Options{})
	tr := res.Tasks[sf.ID]
	if res.State != runtime.Success || len(tr.Children) != 3 {
		t.Fatalf("flow %s, %d children", res.State, len(tr.Children))
	}
	ids := map[string]bool{}
	for i, c := range tr.Children {
		if c.Value != 2*(i+1) || c.Sub == nil || ids[c.Sub.RunID] {
			t.Fatalf("child %d: %+v", i, c)
		}
		ids[c.Sub.RunID] = true
	}
}

func TestSubflowCancelled(t *testing.T) {
	b := newBuilder()
	child := newBuilder()
	child.g.Flow = "child"
	started := make(chan struct{})
	child.g.Add(&runtime.Node{Name: "wait", Task: "wait", Trigger: runtime.AllSuccessful,
		Body: runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})})
	sf := b.subflow("child", child.g)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	done := make(chan *runtime.Result)
	go func() { done <- runtime.Run(ctx, b.g, runtime.Options{RunID: "p"}) }()
	select {
	case res := <-done:
		if res.State != runtime.Cancelled || res.Tasks[sf.ID].State != runtime.Cancelled || res.Tasks[sf.ID].Sub.State != runtime.Cancelled {
			t.Fatalf("flow %s, node %s, child %+v", res.State, res.Tasks[sf.ID].State, res.Tasks[sf.ID].Sub)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the parent did not end the child")
	}
}

func TestSubflowMocked(t *testing.T) {
	b := newBuilder()
	sf := b.subflow("child", childGraph(true))
	sf.Sub.Params = nil
	res, _ := run(t, b.g, runtime.Options{Mocks: map[runtime.NodeID]runtime.Mock{sf.ID: {State: runtime.Success, Result: 7}}})
	if res.State != runtime.Success || res.Tasks[sf.ID].Value != 7 || res.Tasks[sf.ID].Sub != nil {
		t.Fatalf("mocked subflow: %s %+v", res.State, res.Tasks[sf.ID])
	}
}

// BenchmarkSubflowMap1000 maps a subflow of one task over 1,000 elements:
// the cost of a child flow run (its executor, run id, events) per element.
func BenchmarkSubflowMap1000(b *testing.B) {
	const n = 1000
	bl := newBuilder()
	l := bl.task("l", func([]any) (any, error) {
		xs := make([]any, n)
		for i := range xs {
			xs[i] = i
		}
		return xs, nil
	})
	sf := bl.subflow("child", childGraph(false), l.ID)
	sf.Mapped, sf.Inputs[0].Map = true, true
	b.ReportAllocs()
	for b.Loop() {
		res := runtime.Run(context.Background(), bl.g, runtime.Options{RunID: "bench"})
		if res.State != runtime.Success || len(res.Tasks[sf.ID].Children) != n {
			b.Fatalf("%s, %d children", res.State, len(res.Tasks[sf.ID].Children))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/child-run")
}
