package builtins_test

// The workloads of docs/performance.md, in process: load the flow file,
// build its graph, run it, as `wfsh run` does but without process start-up.
// Each benchmark has two variants: events dropped (runtime.Discard), and
// the real log printer writing to io.Discard. The load, build and run
// phases are reported apart (load-ms, build-ms, run-ms per op). Each run
// starts from a collected heap, as in a fresh process.
//
//	go test -run '^$' -bench 'W[123]' -benchmem ./builtins/

import (
	"context"
	"io"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
)

const benchFlows = "../flows/bench"

// benchFlow runs the flow in file b.N times under each sink, checking the
// result of the first reference task with check.
func benchFlow(b *testing.B, file string, check func(b *testing.B, v runtime.Value)) {
	path := filepath.Join(benchFlows, file)
	sinks := []struct {
		name string
		make func(*builtins.Build) runtime.Sink
	}{
		{"discard", func(*builtins.Build) runtime.Sink { return runtime.Discard }},
		{"logprinter", func(bd *builtins.Build) runtime.Sink {
			return &output.LogPrinter{Out: io.Discard, Level: runtime.Info, Graph: bd.Graph}
		}},
	}
	for _, s := range sinks {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			var load, build, run time.Duration
			for b.Loop() {
				// Each run starts from a collected heap, as a fresh process
				// would; the collection is not timed.
				b.StopTimer()
				goruntime.GC()
				b.StartTimer()
				t0 := time.Now()
				m, err := builtins.Load(path, builtins.LoadOptions{Print: func(string) {}})
				if err != nil {
					b.Fatal(err)
				}
				flow, err := m.FindFlow("")
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				bd, err := flow.Build(builtins.BuildOptions{RunSettings: builtins.RunSettings{RunID: "bench"}})
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				res := runtime.Run(context.Background(), bd.Graph, runtime.Options{
					RunID: "bench", Redactor: bd.Redactor(), Sink: s.make(bd)})
				t3 := time.Now()
				if res.State != runtime.Success {
					b.Fatalf("flow ended %s: %s", res.State, res.Msg)
				}
				if check != nil {
					check(b, res.Tasks[bd.Graph.References()[0]].Value)
				}
				load, build, run = load+t1.Sub(t0), build+t2.Sub(t1), run+t3.Sub(t2)
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e6 }
			b.ReportMetric(ms(load), "load-ms")
			b.ReportMetric(ms(build), "build-ms")
			b.ReportMetric(ms(run), "run-ms")
		})
	}
}

// wantInt checks that a task result is the Starlark int want.
func wantInt(want int64) func(b *testing.B, v runtime.Value) {
	return func(b *testing.B, v runtime.Value) {
		i, ok := v.(starlark.Int)
		if got, exact := i.Int64(); !ok || !exact || got != want {
			b.Fatalf("result %v, want %d", v, want)
		}
	}
}

// BenchmarkW1Chain: a chain of 1,000 tasks.
func BenchmarkW1Chain(b *testing.B) {
	benchFlow(b, "w1_chain.star", wantInt(999))
}

// BenchmarkW2Map: .map over 100,000 ints, then a sum.
func BenchmarkW2Map(b *testing.B) {
	const n = 100_000
	benchFlow(b, "w2_map.star", wantInt(n*(n+1)/2))
}

// BenchmarkW3Layers: 100 layers × 100 tasks, two inputs each.
func BenchmarkW3Layers(b *testing.B) {
	prev := make([]int64, 100)
	for i := range prev {
		prev[i] = int64(i)
	}
	for range 99 {
		next := make([]int64, len(prev))
		for i := range next {
			next[i] = (prev[i] + prev[(i+1)%len(prev)]) % 1000
		}
		prev = next
	}
	benchFlow(b, "w3_layers.star", wantInt(prev[0]))
}
