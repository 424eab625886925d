package store

import (
	"context"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// mapEvents are the events of a W2-like run: n mapped children, each
// started and finished with an int result.
func mapEvents(n int) []runtime.Event {
	evs := make([]runtime.Event, 0, 2*n+4)
	t0 := time.Now()
	add := func(e runtime.Event) {
		e.Seq = uint64(len(evs) + 1)
		e.Time = t0.Add(time.Duration(len(evs)) * time.Microsecond)
		evs = append(evs, e)
	}
	add(runtime.Event{Kind: runtime.FlowStarted, Msg: "W2", MapIndex: -1, Node: runtime.NoNode})
	add(runtime.Event{Kind: runtime.MapExpanded, TaskRun: "inc", MapIndex: -1, Node: 1, Children: n})
	for i := range n {
		name := "inc[" + strconv.Itoa(i) + "]"
		add(runtime.Event{Kind: runtime.TaskState, Node: 1, TaskRun: name, MapIndex: i, Attempt: 1, State: runtime.Running})
		add(runtime.Event{Kind: runtime.TaskState, Node: 1, TaskRun: name, MapIndex: i, Attempt: 1, State: runtime.Success, Result: int64(i + 1)})
	}
	add(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, MapIndex: -1, Node: runtime.NoNode})
	return evs
}

// layerEvents are the events of a W3-like run: n tasks, each started and
// finished with an int result.
func layerEvents(n int) []runtime.Event {
	evs := make([]runtime.Event, 0, 2*n+2)
	t0 := time.Now()
	add := func(e runtime.Event) {
		e.Seq = uint64(len(evs) + 1)
		e.Time = t0.Add(time.Duration(len(evs)) * time.Microsecond)
		evs = append(evs, e)
	}
	add(runtime.Event{Kind: runtime.FlowStarted, Msg: "W3", MapIndex: -1, Node: runtime.NoNode})
	for i := range n {
		name := "combine-" + strconv.Itoa(i)
		add(runtime.Event{Kind: runtime.TaskState, Node: runtime.NodeID(i), TaskRun: name, MapIndex: -1, Attempt: 1, State: runtime.Running})
		add(runtime.Event{Kind: runtime.TaskState, Node: runtime.NodeID(i), TaskRun: name, MapIndex: -1, Attempt: 1, State: runtime.Success, Result: int64(i % 1000)})
	}
	add(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, MapIndex: -1, Node: runtime.NoNode})
	return evs
}

// layerGraph is the graph of layerEvents: layers of 100 tasks, each
// taking two results of the layer before.
func layerGraph(n int) *runtime.Graph {
	g := &runtime.Graph{Flow: "W3"}
	for i := range n {
		nd := &runtime.Node{Name: "combine-" + strconv.Itoa(i), Task: "combine"}
		if i >= 100 {
			nd.Inputs = []runtime.Input{{From: runtime.NodeID(i - 100)}, {From: runtime.NodeID(i - 99)}}
		}
		g.Add(nd)
	}
	return g
}

func appendInt(b []byte, v runtime.Value) ([]byte, error) {
	return strconv.AppendInt(b, v.(int64), 10), nil
}

// BenchmarkRecord measures what recording costs a run, all of it: the
// events emitted, batched and written, the store closed.
func BenchmarkRecord(b *testing.B) {
	for _, c := range []struct {
		name string
		evs  []runtime.Event
		g    *runtime.Graph
	}{{"map100k", mapEvents(100000), nil}, {"tasks10k", layerEvents(10000), layerGraph(10000)}} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "wfsh.db")
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				s, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "run-" + strconv.Itoa(i), Flow: "F"}, AppendResult: appendInt, Graph: c.g})
				for _, e := range c.evs {
					r.Emit(e)
				}
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system: the
// recorder's goroutine works beside the run, so its cost is CPU, not
// wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDAG(b *testing.B) {
	g := layerGraph(10000)
	b.ReportAllocs()
	var n int
	for i := 0; i < b.N; i++ {
		n = len(appendDAG(nil, g))
	}
	b.ReportMetric(float64(n), "bytes")
}

// BenchmarkEachLog reads back a run that logged 100,000 lines of 100
// bytes (10 MB): the store's part of `wfsh logs`.
func BenchmarkEachLog(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "wfsh.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100000
	logRun(b, s, "r", n, RecorderOptions{})
	b.SetBytes(n * 100)
	b.ResetTimer()
	for range b.N {
		lines := 0
		err := s.EachLog(context.Background(), "r", LogFilter{}, func(e *runtime.Event) error {
			lines++
			return nil
		})
		if err != nil || lines != n+4 {
			b.Fatalf("%d entries, %v", lines, err)
		}
	}
}

// BenchmarkRecordLog records a run that logs 100,000 lines of 100 bytes
// (10 MB) and reports the peak of the live heap while it does
// (peak-heap-MB, sampled every millisecond): with the queue bounded, it
// does not grow with the log.
func BenchmarkRecordLog(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "wfsh.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100000
	var peak uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var ms goruntime.MemStats
		for {
			goruntime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	b.SetBytes(n * 100)
	b.ResetTimer()
	for i := range b.N {
		logRun(b, s, "r"+strconv.Itoa(i), n, RecorderOptions{})
	}
	b.StopTimer()
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkFollowLogTail opens a follower of a finished W3-like run (10,000
// tasks, 20,002 log entries) and gives its last 1,000 entries, as a run's
// page opens its event stream; Whole gives them all.
//
//	go test -run '^$' -bench FollowLogTail -benchtime 20x ./store/
func BenchmarkFollowLogTail(b *testing.B) {
	s, err := Open(b.TempDir() + "/wfsh.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "w3", Flow: "W3"}, Graph: layerGraph(10000), AppendResult: appendInt})
	for _, e := range layerEvents(10000) {
		e.RunID = "w3"
		rec.Emit(e)
	}
	if err := rec.Close(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tail int
	}{{"Tail1000", 1000}, {"Whole", 0}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				err := s.FollowLog("w3", LogFilter{}).Tail(c.tail).Next(context.Background(), func(*runtime.Event) error { n++; return nil })
				if err != nil || c.tail > 0 && n != c.tail {
					b.Fatalf("%d entries, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkLogsPlainProbe is what wfsh logs of a run without subflows
// does more than read its log: ask whether it has child runs (one probe
// of an index) and read its graph for the nodes that are not tasks'
// (the "Task runs:" line's counts).
func BenchmarkLogsPlainProbe(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "wfsh.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	logRun(b, s, "r", 10, RecorderOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if kids, err := s.HasSubflowRuns(ctx, "r"); err != nil || kids {
			b.Fatalf("child runs: %v, %v", kids, err)
		}
		s.NotTasks(ctx)("r", "t")
	}
}
