package runtime_test

// Executor overhead with Go task bodies that do nothing: the cost of
// scheduling, hand-offs to the worker pool and event emission, without
// Starlark. The workloads mirror W1-W3 of docs/performance.md; the Starlark
// versions are in builtins/bench_test.go.
//
//	go test -run '^$' -bench Executor -benchmem ./runtime/

import (
	"context"
	"fmt"
	goruntime "runtime"
	"testing"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// benchTask adds a task node whose body is f, with a data edge from each of in.
func benchTask(g *runtime.Graph, name string, f func([]any) (any, error), in ...runtime.NodeID) runtime.NodeID {
	n := &runtime.Node{Name: name, Task: name, Trigger: runtime.AllSuccessful,
		SkipOnUpstreamSkip: true, Body: runtimetest.Func(f)}
	for _, id := range in {
		n.Inputs = append(n.Inputs, runtime.Input{From: id})
	}
	return g.Add(n)
}

func benchInc(in []any) (any, error) { return in[0].(int64) + 1, nil }

func benchAdd(in []any) (any, error) { return in[0].(int64) + in[1].(int64), nil }

// benchChain is W1: a chain of n tasks, each adding one to the previous.
func benchChain(n int) (*runtime.Graph, runtime.NodeID) {
	g := &runtime.Graph{Flow: "chain", Values: runtimetest.ListValues{}}
	last := benchTask(g, "start", func([]any) (any, error) { return int64(0), nil })
	for i := 1; i < n; i++ {
		last = benchTask(g, fmt.Sprintf("step-%d", i+1), benchInc, last)
	}
	return g, last
}

// benchMap is W2: a task returns n ints, a task is mapped over them, a
// last task sums the mapped results.
func benchMap(n int) (*runtime.Graph, runtime.NodeID) {
	g := &runtime.Graph{Flow: "map", Values: runtimetest.ListValues{}}
	nums := benchTask(g, "numbers", func([]any) (any, error) {
		l := make([]any, n)
		for i := range l {
			l[i] = int64(i)
		}
		return l, nil
	})
	inc := benchTask(g, "inc", benchInc)
	g.Nodes[inc].Inputs = []runtime.Input{{From: nums, Map: true}}
	g.Nodes[inc].Mapped = true
	total := benchTask(g, "total", func(in []any) (any, error) {
		var s int64
		for _, v := range in[0].([]any) {
			s += v.(int64)
		}
		return s, nil
	}, inc)
	return g, total
}

// benchLayers is W3: layers × width tasks, each taking two results of the
// layer before.
func benchLayers(layers, width int) *runtime.Graph {
	g := &runtime.Graph{Flow: "layers", Values: runtimetest.ListValues{}}
	prev := make([]runtime.NodeID, width)
	for i := range prev {
		v := int64(i)
		prev[i] = benchTask(g, fmt.Sprintf("seed-%d", i), func([]any) (any, error) { return v, nil })
	}
	for l := 1; l < layers; l++ {
		next := make([]runtime.NodeID, width)
		for i := range next {
			next[i] = benchTask(g, fmt.Sprintf("combine-%d-%d", l, i), benchAdd, prev[i], prev[(i+1)%width])
		}
		prev = next
	}
	return g
}

// benchRun runs g b.N times and checks that it succeeded; tasks is the
// number of task runs, for the ns/task metric.
func benchRun(b *testing.B, g *runtime.Graph, tasks int, opt runtime.Options, check func(*runtime.Result)) {
	b.Helper()
	if err := g.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		goruntime.GC() // each run starts from a collected heap
		b.StartTimer()
		res := runtime.Run(context.Background(), g, opt)
		if res.State != runtime.Success {
			b.Fatalf("flow ended %s: %s", res.State, res.Msg)
		}
		if check != nil {
			check(res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tasks), "ns/task")
}

// benchConcurrency runs f with one worker and with the default pool, to
// tell the cost of hand-offs between goroutines from the rest.
func benchConcurrency(b *testing.B, f func(b *testing.B, opt runtime.Options)) {
	for _, c := range []int{1, runtime.DefaultConcurrency()} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			f(b, runtime.Options{RunID: "bench", Concurrency: c, Sink: runtime.Discard})
		})
	}
}

func BenchmarkExecutorChain1000(b *testing.B) {
	g, last := benchChain(1000)
	benchConcurrency(b, func(b *testing.B, opt runtime.Options) {
		benchRun(b, g, 1000, opt, func(res *runtime.Result) {
			if v := res.Tasks[last].Value; v != int64(999) {
				b.Fatalf("chain ended with %v, want 999", v)
			}
		})
	})
}

func BenchmarkExecutorMap100k(b *testing.B) {
	const n = 100_000
	g, total := benchMap(n)
	benchConcurrency(b, func(b *testing.B, opt runtime.Options) {
		benchRun(b, g, n+2, opt, func(res *runtime.Result) {
			if v := res.Tasks[total].Value; v != int64(n*(n+1)/2) {
				b.Fatalf("sum is %v, want %d", v, n*(n+1)/2)
			}
		})
	})
}

func BenchmarkExecutorLayers(b *testing.B) {
	g := benchLayers(100, 100)
	benchConcurrency(b, func(b *testing.B, opt runtime.Options) {
		benchRun(b, g, 100*100, opt, nil)
	})
}
