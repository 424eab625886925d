package runtime_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// gauge counts the bodies running at once and keeps the most.
type gauge struct{ now, most atomic.Int32 }

func (g *gauge) body(d time.Duration) runtime.Body {
	return runtime.BodyFunc(func(context.Context, *runtime.Call) (runtime.Value, error) {
		n := g.now.Add(1)
		for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
		}
		time.Sleep(d)
		g.now.Add(-1)
		return nil, nil
	})
}

func limitedGraph(limits map[string]int, tasks int, tags []string, b runtime.Body) *runtime.Graph {
	g := &runtime.Graph{Flow: "F", Limits: limits}
	for i := range tasks {
		name := fmt.Sprintf("q%d", i)
		g.Add(&runtime.Node{Name: name, Task: name, Tags: tags, Trigger: runtime.AllSuccessful, Body: b})
	}
	return g
}

// TestLimitsWithoutStore: with no Limiter given, a run holds its flow's
// limits itself: never more than 2 of 6 db task runs at once, and those
// that wait say so in their log and are Waiting meanwhile.
func TestLimitsWithoutStore(t *testing.T) {
	var g gauge
	var rec runtimetest.Recorder
	res := runtime.Run(context.Background(), limitedGraph(map[string]int{"db": 2}, 6, []string{"db"}, g.body(20*time.Millisecond)),
		runtime.Options{RunID: "r", Concurrency: 6, Sink: &rec})
	if res.State != runtime.Success || g.most.Load() != 2 {
		t.Fatalf("run %v, at most %d at once, want Success and 2", res.State, g.most.Load())
	}
	waited := 0
	for i := range 6 {
		name := fmt.Sprintf("q%d", i)
		if !slices.Contains(rec.Logs(name), "waiting for a slot of limit db (2 in use)") {
			continue
		}
		waited++
		// Waiting until its slot is held, then Running: its body runs.
		if got := fmt.Sprint(rec.States(name)); got != "[Waiting Running Success]" {
			t.Errorf("%s went through %s, want [Waiting Running Success]", name, got)
		}
	}
	if waited != 4 {
		t.Errorf("%d task runs said they waited, want 4", waited)
	}
}

// TestSlotsShared: two runs given Limiters of one Slots share its
// counts; a task with two limited tags takes a slot of each; a tag
// without a limit takes none; a limit of 0 lets none run until the run
// is cancelled.
func TestSlotsShared(t *testing.T) {
	var slots runtime.Slots
	var g gauge
	lim := map[string]int{"db": 2, "api": 1}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			gr := limitedGraph(lim, 4, []string{"db", "free"}, g.body(10*time.Millisecond))
			runtime.Run(context.Background(), gr, runtime.Options{Concurrency: 4, Limiter: slots.Limiter(lim)})
		})
	}
	wg.Wait()
	if g.most.Load() != 2 {
		t.Errorf("two runs sharing a limit of 2: at most %d at once", g.most.Load())
	}
	var both gauge
	gr := limitedGraph(lim, 4, []string{"db", "api"}, both.body(10*time.Millisecond))
	runtime.Run(context.Background(), gr, runtime.Options{Concurrency: 4, Limiter: slots.Limiter(lim)})
	if both.most.Load() != 1 {
		t.Errorf("tagged db and api (limits 2 and 1): at most %d at once, want 1", both.most.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var none gauge
	res := runtime.Run(ctx, limitedGraph(map[string]int{"db": 0}, 2, []string{"db"}, none.body(0)), runtime.Options{Concurrency: 2})
	if res.State != runtime.Cancelled || none.most.Load() != 0 {
		t.Errorf("limit 0: run %v with %d bodies run, want Cancelled and none", res.State, none.most.Load())
	}
}
