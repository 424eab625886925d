package runtime_test

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

type builder struct{ g *runtime.Graph }

func newBuilder() *builder {
	return &builder{g: &runtime.Graph{Flow: "test", Values: runtimetest.ListValues{}}}
}

func (b *builder) task(name string, f func(in []any) (any, error), in ...runtime.NodeID) *runtime.Node {
	n := &runtime.Node{Name: name, Task: name, Trigger: runtime.AllSuccessful,
		SkipOnUpstreamSkip: true, Body: runtimetest.Func(f)}
	for _, id := range in {
		n.Inputs = append(n.Inputs, runtime.Input{From: id})
	}
	b.g.Add(n)
	return n
}

func constant(v any) func([]any) (any, error) { return func([]any) (any, error) { return v, nil } }

func failing(msg string) func([]any) (any, error) {
	return func([]any) (any, error) { return nil, errors.New(msg) }
}

func run(t *testing.T, g *runtime.Graph, opt runtime.Options) (*runtime.Result, *runtimetest.Recorder) {
	t.Helper()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	rec := &runtimetest.Recorder{}
	opt.Sink = runtime.Tee(rec, opt.Sink)
	if opt.RunID == "" {
		opt.RunID = "run-1"
	}
	return runtime.Run(context.Background(), g, opt), rec
}

func wantState(t *testing.T, res *runtime.Result, id runtime.NodeID, want runtime.State) {
	t.Helper()
	if got := res.Tasks[id]; got.State != want {
		t.Errorf("%s: state %s (%s), want %s", got.Name, got.State, got.Msg, want)
	}
}

func TestDataFlows(t *testing.T) {
	b := newBuilder()
	a := b.task("a", constant(int64(2)))
	sq := b.task("sq", func(in []any) (any, error) { return in[0].(int64) * in[0].(int64), nil }, a.ID)
	res, rec := run(t, b.g, runtime.Options{})
	if res.State != runtime.Success || res.Tasks[sq.ID].Value != int64(4) {
		t.Fatalf("got %s %v", res.State, res.Tasks[sq.ID].Value)
	}
	if got := rec.States("sq"); !slices.Equal(got, []runtime.State{runtime.Running, runtime.Success}) {
		t.Errorf("states of sq: %v", got)
	}
	events := rec.Events()
	for i, e := range events {
		if e.Seq != uint64(i+1) || e.RunID != "run-1" {
			t.Fatalf("event %d: seq %d run %q", i, e.Seq, e.RunID)
		}
	}
	if events[0].Kind != runtime.FlowStarted || events[len(events)-1].Kind != runtime.FlowFinished {
		t.Errorf("first %s last %s", events[0].Kind, events[len(events)-1].Kind)
	}
}

func TestFailurePropagatesAsTriggerFailed(t *testing.T) {
	b := newBuilder()
	a := b.task("a", failing("boom"))
	c := b.task("c", constant(1), a.ID)
	clean := b.task("clean", constant(nil))
	clean.Upstream = []runtime.NodeID{c.ID}
	clean.Trigger = runtime.AllFinished
	b.g.Reference = []runtime.NodeID{c.ID}
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, a.ID, runtime.Failed)
	wantState(t, res, c.ID, runtime.TriggerFailed)
	wantState(t, res, clean.ID, runtime.Success)
	if res.State != runtime.Failed || res.Tasks[a.ID].Msg != "boom" {
		t.Errorf("flow %s, a's message %q", res.State, res.Tasks[a.ID].Msg)
	}
}

func TestTriggers(t *testing.T) {
	cases := []struct {
		trigger runtime.Trigger
		up      []bool // success or failure of each upstream
		want    runtime.State
	}{
		{runtime.AllSuccessful, []bool{true, true}, runtime.Success},
		{runtime.AllSuccessful, []bool{true, false}, runtime.TriggerFailed},
		{runtime.AllFinished, []bool{false, false}, runtime.Success},
		{runtime.AnySuccessful, []bool{false, true}, runtime.Success},
		{runtime.AnySuccessful, []bool{false, false}, runtime.TriggerFailed},
		{runtime.AnyFailed, []bool{true, false}, runtime.Success},
		{runtime.AnyFailed, []bool{true, true}, runtime.TriggerFailed},
		{runtime.AllFailed, []bool{false, false}, runtime.Success},
		{runtime.AllFailed, []bool{true, false}, runtime.TriggerFailed},
		{runtime.NoneFailed, []bool{true, true}, runtime.Success},
		{runtime.NoneFailed, []bool{false, true}, runtime.TriggerFailed},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%v", tc.trigger.Name, tc.up), func(t *testing.T) {
			b := newBuilder()
			var ids []runtime.NodeID
			for i, ok := range tc.up {
				f := constant(1)
				if !ok {
					f = failing("no")
				}
				ids = append(ids, b.task(fmt.Sprint("u", i), f).ID)
			}
			n := b.task("t", constant(1))
			n.Upstream, n.Trigger = ids, tc.trigger
			res, _ := run(t, b.g, runtime.Options{})
			wantState(t, res, n.ID, tc.want)
		})
	}
}

func TestSkipPropagation(t *testing.T) {
	b := newBuilder()
	s := b.task("s", func([]any) (any, error) { return nil, &runtime.Signal{State: runtime.Skipped, Msg: "no data"} })
	down := b.task("down", constant(1), s.ID)
	keep := b.task("keep", constant(1), s.ID)
	keep.SkipOnUpstreamSkip = false
	fin := b.task("fin", constant(1), s.ID)
	fin.Trigger = runtime.AllFinished
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, s.ID, runtime.Skipped)
	wantState(t, res, down.ID, runtime.Skipped)
	wantState(t, res, keep.ID, runtime.Success)
	wantState(t, res, fin.ID, runtime.Success)
	if res.State != runtime.Success {
		t.Errorf("skipped reference tasks count as success, got %s", res.State)
	}
}

func TestMapZipsAndJoins(t *testing.T) {
	b := newBuilder()
	xs := b.task("xs", constant([]any{int64(1), int64(2), int64(3)}))
	ys := b.task("ys", constant([]any{int64(10), int64(20)}))
	k := b.task("k", constant(int64(100)))
	add := b.task("add", func(in []any) (any, error) { return in[0].(int64) + in[1].(int64) + in[2].(int64), nil })
	add.Mapped = true
	add.Inputs = []runtime.Input{{From: xs.ID, Map: true}, {From: ys.ID, Map: true}, {From: k.ID}}
	// A map over the mapped result goes element-wise.
	dbl := b.task("dbl", func(in []any) (any, error) { return in[0].(int64) * 2, nil })
	dbl.Mapped = true
	dbl.Inputs = []runtime.Input{{From: add.ID, Map: true}}
	res, rec := run(t, b.g, runtime.Options{})
	wantState(t, res, add.ID, runtime.Mapped)
	if got := res.Tasks[dbl.ID].Value; !slices.Equal(got.([]any), []any{int64(222), int64(244)}) {
		t.Errorf("dbl = %v", got)
	}
	if got := rec.States("add[1]"); !slices.Equal(got, []runtime.State{runtime.Running, runtime.Success}) {
		t.Errorf("add[1] states %v", got)
	}
}

func TestMapChildFailureIsElementWise(t *testing.T) {
	b := newBuilder()
	xs := b.task("xs", constant([]any{int64(1), int64(2), int64(3)}))
	inv := b.task("inv", func(in []any) (any, error) {
		if in[0].(int64) == 2 {
			return nil, errors.New("two")
		}
		return in[0], nil
	})
	inv.Mapped, inv.Inputs = true, []runtime.Input{{From: xs.ID, Map: true}}
	next := b.task("next", func(in []any) (any, error) { return in[0], nil })
	next.Mapped, next.Inputs = true, []runtime.Input{{From: inv.ID, Map: true}}
	total := b.task("total", constant(0), inv.ID)
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, inv.ID, runtime.Failed)
	kids := res.Tasks[next.ID].Children
	if len(kids) != 3 || kids[0].State != runtime.Success || kids[1].State != runtime.TriggerFailed || kids[2].State != runtime.Success {
		t.Errorf("children of next: %+v", kids)
	}
	wantState(t, res, total.ID, runtime.TriggerFailed)
	if res.Tasks[inv.ID].Msg != "1 of 3 mapped task runs failed" {
		t.Errorf("msg %q", res.Tasks[inv.ID].Msg)
	}
}

func TestMapOverEmptyListSucceeds(t *testing.T) {
	b := newBuilder()
	xs := b.task("xs", constant([]any{}))
	m := b.task("m", constant(1))
	m.Mapped, m.Inputs = true, []runtime.Input{{From: xs.ID, Map: true}}
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, m.ID, runtime.Mapped)
	if v := res.Tasks[m.ID].Value.([]any); len(v) != 0 {
		t.Errorf("value %v", v)
	}
}

func TestMapOverNonList(t *testing.T) {
	b := newBuilder()
	xs := b.task("xs", constant(3))
	m := b.task("m", constant(1))
	m.Mapped, m.Inputs = true, []runtime.Input{{From: xs.ID, Map: true}}
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, m.ID, runtime.Failed)
	if !strings.Contains(res.Tasks[m.ID].Msg, "cannot map over the result of xs") {
		t.Errorf("msg %q", res.Tasks[m.ID].Msg)
	}
}

func TestGuards(t *testing.T) {
	b := newBuilder()
	cond := b.task("cond", constant("b"))
	eq := func(want string) runtime.Guard {
		return runtime.Guard{Cond: cond.ID, Label: "== " + want, Match: func(v runtime.Value) (bool, error) { return v == want, nil }}
	}
	a := b.task("a", constant(1))
	a.Guards = []runtime.Guard{eq("a")}
	bb := b.task("b", constant(2))
	bb.Guards = []runtime.Guard{eq("b")}
	after := b.task("after", constant(3), a.ID)
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, a.ID, runtime.Skipped)
	wantState(t, res, bb.ID, runtime.Success)
	wantState(t, res, after.ID, runtime.Skipped)
}

func TestRetries(t *testing.T) {
	b := newBuilder()
	var calls atomic.Int32
	flaky := b.task("flaky", func([]any) (any, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("not yet")
		}
		return "ok", nil
	})
	flaky.Retries, flaky.RetryDelay = 2, time.Millisecond
	res, rec := run(t, b.g, runtime.Options{})
	wantState(t, res, flaky.ID, runtime.Success)
	want := []runtime.State{runtime.Running, runtime.Retrying, runtime.Running, runtime.Retrying, runtime.Running, runtime.Success}
	if got := rec.States("flaky"); !slices.Equal(got, want) {
		t.Errorf("states %v", got)
	}
	if res.Tasks[flaky.ID].Attempts != 3 {
		t.Errorf("attempts %d", res.Tasks[flaky.ID].Attempts)
	}
}

func TestRetriesExhausted(t *testing.T) {
	b := newBuilder()
	f := b.task("f", failing("always"))
	f.Retries = 1
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, f.ID, runtime.Failed)
	if res.Tasks[f.ID].Attempts != 2 {
		t.Errorf("attempts %d", res.Tasks[f.ID].Attempts)
	}
}

func blockUntilDone(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestTimeout(t *testing.T) {
	b := newBuilder()
	slow := b.task("slow", nil)
	slow.Body, slow.Timeout = runtime.BodyFunc(blockUntilDone), 20*time.Millisecond
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, slow.ID, runtime.TimedOut)
	if res.Tasks[slow.ID].Msg != "task timed out after 20ms" {
		t.Errorf("msg %q", res.Tasks[slow.ID].Msg)
	}
}

func TestCancel(t *testing.T) {
	b := newBuilder()
	started := make(chan struct{})
	slow := b.task("slow", nil)
	slow.Body = runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
		close(started)
		return blockUntilDone(ctx, c)
	})
	later := b.task("later", constant(1), slow.ID)
	retrying := b.task("retrying", failing("x"))
	retrying.Retries, retrying.RetryDelay = 5, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; time.Sleep(10 * time.Millisecond); cancel() }()
	res := runtime.Run(ctx, b.g, runtime.Options{})
	if res.State != runtime.Cancelled {
		t.Fatalf("flow %s", res.State)
	}
	for _, id := range []runtime.NodeID{slow.ID, later.ID, retrying.ID} {
		wantState(t, res, id, runtime.Cancelled)
	}
}

// TestFlowTimeout: a run past its graph's Timeout is stopped, its task
// runs cancelled, and ends Failed with the reason; a run within it is
// untouched.
func TestFlowTimeout(t *testing.T) {
	b := newBuilder()
	slow := b.task("slow", nil)
	slow.Body = runtime.BodyFunc(blockUntilDone)
	later := b.task("later", constant(1), slow.ID)
	b.g.Timeout = 100 * time.Millisecond
	start := time.Now()
	res := runtime.Run(context.Background(), b.g, runtime.Options{})
	if res.State != runtime.Failed || res.Msg != "Flow run timed out after 100ms." {
		t.Fatalf("flow %s %q", res.State, res.Msg)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	wantState(t, res, slow.ID, runtime.Cancelled)
	wantState(t, res, later.ID, runtime.Cancelled)

	quick := newBuilder()
	one := quick.task("one", constant(1))
	quick.g.Timeout = time.Minute
	res = runtime.Run(context.Background(), quick.g, runtime.Options{})
	if res.State != runtime.Success {
		t.Errorf("within its timeout: %s %q", res.State, res.Msg)
	}
	wantState(t, res, one.ID, runtime.Success)
}

func TestCancelAbandonsStuckBodies(t *testing.T) {
	b := newBuilder()
	release := make(chan struct{})
	defer close(release)
	stuck := b.task("stuck", nil)
	stuck.Body = runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
		<-release
		return nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := runtime.Run(ctx, b.g, runtime.Options{CancelGrace: 20 * time.Millisecond})
	wantState(t, res, stuck.ID, runtime.Cancelled)
}

func TestMocks(t *testing.T) {
	b := newBuilder()
	n := b.task("number", failing("should not run"))
	cube := b.task("cube", func(in []any) (any, error) { v := in[0].(int64); return v * v * v, nil }, n.ID)
	res, _ := run(t, b.g, runtime.Options{Mocks: map[runtime.NodeID]runtime.Mock{
		n.ID: {State: runtime.Success, Msg: "Dummy Success", Result: int64(10)}}})
	if res.Tasks[cube.ID].Value != int64(1000) {
		t.Errorf("cube %v", res.Tasks[cube.ID].Value)
	}
	res, _ = run(t, b.g, runtime.Options{Mocks: map[runtime.NodeID]runtime.Mock{
		n.ID: {State: runtime.Failed, Msg: "Dummy Failed", Result: int64(10)}}})
	wantState(t, res, cube.ID, runtime.TriggerFailed)
}

func TestConcurrencyBound(t *testing.T) {
	b := newBuilder()
	var now, peak atomic.Int32
	for i := range 20 {
		b.task(fmt.Sprint("t", i), func([]any) (any, error) {
			n := now.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			now.Add(-1)
			return nil, nil
		})
	}
	res, _ := run(t, b.g, runtime.Options{Concurrency: 3})
	if res.State != runtime.Success || peak.Load() > 3 || peak.Load() < 2 {
		t.Errorf("state %s peak %d", res.State, peak.Load())
	}
}

func TestLogsAndRedaction(t *testing.T) {
	b := newBuilder()
	red := &runtime.Redactor{}
	n := b.task("talk", nil)
	n.Body = runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
		red.Add("hunter2")
		c.Log(runtime.Info, "password is hunter2")
		return nil, errors.New("bad hunter2")
	})
	res, rec := run(t, b.g, runtime.Options{Redactor: red})
	if got := rec.Logs("talk"); len(got) != 1 || got[0] != "password is ********" {
		t.Errorf("logs %q", got)
	}
	for _, e := range rec.Events() {
		if strings.Contains(e.Msg, "hunter2") {
			t.Errorf("secret leaked in %+v", e)
		}
	}
	_ = res
}

func TestPanicInBodyFails(t *testing.T) {
	b := newBuilder()
	p := b.task("p", func([]any) (any, error) { panic("oops") })
	res, _ := run(t, b.g, runtime.Options{})
	wantState(t, res, p.ID, runtime.Failed)
}

func TestValidate(t *testing.T) {
	b := newBuilder()
	a := b.task("a", constant(1))
	c := b.task("c", constant(1), a.ID)
	a.Upstream = []runtime.NodeID{c.ID}
	b.task("a", constant(1))
	err := b.g.Validate()
	if err == nil || !strings.Contains(err.Error(), `duplicate task run name "a"`) {
		t.Fatalf("err %v", err)
	}
	b.g.Nodes = b.g.Nodes[:2]
	if err := b.g.Validate(); err == nil || !strings.Contains(err.Error(), "cycle: ") {
		t.Fatalf("err %v", err)
	}
}

func TestRecorderConformance(t *testing.T) {
	rec := &runtimetest.Recorder{}
	seen := 0
	runtimetest.TestSink(t, rec, runtimetest.Keeps{States: true, Logs: true, Flow: true}, func() []runtimetest.Fact {
		events := rec.Events()[seen:]
		seen += len(events)
		var facts []runtimetest.Fact
		for _, e := range events {
			switch e.Kind {
			case runtime.TaskState, runtime.FlowFinished:
				facts = append(facts, runtimetest.Fact{Kind: e.Kind, TaskRun: e.TaskRun, State: e.State})
			case runtime.TaskLog:
				facts = append(facts, runtimetest.Fact{Kind: e.Kind, TaskRun: e.TaskRun, Msg: e.Msg})
			}
		}
		return facts
	})
}

// TestNoGoroutineLeft runs a cancelled and a normal run and checks that
// every goroutine the executor started is gone when Run returns.
func TestNoGoroutineLeft(t *testing.T) {
	before := goruntime.NumGoroutine()
	b := newBuilder()
	for i := range 50 {
		n := b.task(fmt.Sprint("t", i), nil)
		n.Body = runtime.BodyFunc(blockUntilDone)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if res := runtime.Run(ctx, b.g, runtime.Options{Concurrency: 8}); res.State != runtime.Cancelled {
		t.Fatalf("state %s", res.State)
	}
	run(t, newBuilder().withTask("x"), runtime.Options{})
	// A goroutine of an earlier test may still be on its way out (the
	// race detector slows exits): allow it a moment, not a leak.
	after := goruntime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); after > before && time.Now().Before(deadline); after = goruntime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:goruntime.Stack(buf, true)])
	}
}

func (b *builder) withTask(name string) *runtime.Graph {
	b.task(name, constant(1))
	return b.g
}

// mapCache is a runtime.Cache with results by task run name; it records
// what it was asked and told.
type mapCache struct {
	hits   map[string]any
	asked  []string
	stored map[string]any
}

func (c *mapCache) Lookup(_ context.Context, call *runtime.Call) (runtime.Value, string, bool) {
	c.asked = append(c.asked, fmt.Sprintf("%s%v", call.TaskRun, call.Inputs))
	v, ok := c.hits[call.TaskRun]
	return v, "from the cache", ok
}

func (c *mapCache) Store(call *runtime.Call, v runtime.Value) { c.stored[call.TaskRun] = v }

func TestCache(t *testing.T) {
	b := newBuilder()
	xs := b.task("xs", failing("xs should not run"))
	var ran atomic.Int32
	inc := b.task("inc", func(in []any) (any, error) { ran.Add(1); return in[0].(int64) + 1, nil })
	inc.Mapped, inc.Inputs = true, []runtime.Input{{From: xs.ID, Map: true}}
	sum := b.task("sum", func(in []any) (any, error) {
		s := int64(0)
		for _, v := range in[0].([]any) {
			s += v.(int64)
		}
		return s, nil
	}, inc.ID)
	c := &mapCache{stored: map[string]any{}, hits: map[string]any{
		"xs": []any{int64(1), int64(2), int64(3)}, "inc[1]": int64(100)}}
	res, rec := run(t, b.g, runtime.Options{Cache: c, Concurrency: 1})
	wantState(t, res, xs.ID, runtime.Cached)
	wantState(t, res, sum.ID, runtime.Success)
	if res.Tasks[sum.ID].Value != int64(2+100+4) || ran.Load() != 2 {
		t.Errorf("sum = %v with %d bodies of inc run; want 106 and 2", res.Tasks[sum.ID].Value, ran.Load())
	}
	if got := rec.States("inc[1]"); !slices.Equal(got, []runtime.State{runtime.Cached}) {
		t.Errorf("inc[1] states %v, want only Cached", got)
	}
	if want := "xs[] inc[0][1] inc[1][2] inc[2][3] sum[[2 100 4]]"; strings.Join(c.asked, " ") != want {
		t.Errorf("asked %s, want %s", strings.Join(c.asked, " "), want)
	}
	if len(c.stored) != 3 || c.stored["inc[0]"] != int64(2) || c.stored["sum"] != int64(106) {
		t.Errorf("stored %v", c.stored)
	}
}
