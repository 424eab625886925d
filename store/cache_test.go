package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// TestCacheEntries writes entries as a run does (through its recorder)
// and reads them back: a hit before expiry, a miss after, clear by task
// and by expiry.
func TestCacheEntries(t *testing.T) { eachBackend(t, testCacheEntries) }

func testCacheEntries(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	t0 := time.Date(2020, 11, 30, 10, 0, 0, 0, time.UTC)
	r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "run-1", Flow: "F"}})
	r.PutCache(CacheEntry{Key: "k1", Task: "extract", Flow: "F", RunID: "run-1", TaskRun: "extract", Result: []byte(`[1,2]`),
		Created: t0, Expires: t0.Add(time.Hour)})
	r.PutCache(CacheEntry{Key: "k2", Task: "load", Flow: "F", RunID: "run-1", TaskRun: "load-2", Result: []byte(`"x"`),
		Created: t0.Add(time.Second)})
	r.Emit(runtime.Event{Seq: 1, Time: t0, Kind: runtime.FlowStarted, MapIndex: -1, Node: runtime.NoNode})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	e, ok, err := s.CacheGet(ctx, "k1", t0.Add(59*time.Minute))
	if err != nil || !ok || string(e.Result) != `[1,2]` || e.TaskRun != "extract" || !e.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("k1 before expiry: %+v, %v, %v", e, ok, err)
	}
	if _, ok, err := s.CacheGet(ctx, "k1", t0.Add(time.Hour)); ok || err != nil {
		t.Errorf("k1 at expiry: found %v, %v", ok, err)
	}
	if e, ok, _ := s.CacheGet(ctx, "k2", t0.Add(1000*time.Hour)); !ok || !e.Expires.IsZero() {
		t.Errorf("k2, which never expires: %+v, %v", e, ok)
	}
	if _, ok, _ := s.CacheGet(ctx, "nope", t0); ok {
		t.Error("an unknown key is found")
	}
	list, err := s.CacheList(ctx, CacheFilter{})
	if err != nil || len(list) != 2 || list[0].Key != "k2" {
		t.Errorf("list: %+v, %v; want k2 then k1", list, err)
	}
	if n, err := s.CacheClear(ctx, CacheFilter{Expired: t0.Add(30 * time.Minute)}); n != 0 || err != nil {
		t.Errorf("clear expired at t0+30m: %d, %v; want 0", n, err)
	}
	if n, err := s.CacheClear(ctx, CacheFilter{Expired: t0.Add(2 * time.Hour)}); n != 1 || err != nil {
		t.Errorf("clear expired at t0+2h: %d, %v; want 1", n, err)
	}
	if n, err := s.CacheClear(ctx, CacheFilter{Task: "load"}); n != 1 || err != nil {
		t.Errorf("clear task load: %d, %v; want 1", n, err)
	}
	if list, _ := s.CacheList(ctx, CacheFilter{}); len(list) != 0 {
		t.Errorf("after clearing: %+v", list)
	}
}

func TestDAGDiff(t *testing.T) {
	g := func(change func(*runtime.Graph)) *runtime.Graph {
		gr := &runtime.Graph{Flow: "F"}
		p := gr.Add(&runtime.Node{Name: "n", Task: "n", Kind: runtime.ParamNode})
		a := gr.Add(&runtime.Node{Name: "a", Task: "a", Inputs: []runtime.Input{{From: p}}})
		gr.Add(&runtime.Node{Name: "b", Task: "b", Inputs: []runtime.Input{{From: a, Map: true}}, Mapped: true})
		gr.Add(&runtime.Node{Name: "c", Task: "c", Upstream: []runtime.NodeID{a},
			Guards: []runtime.Guard{{Cond: a, Label: `== "x"`}}})
		if change != nil {
			change(gr)
		}
		return gr
	}
	was := DAGOf(g(nil))
	stored, err := ParseDAG(appendDAG(nil, g(nil)))
	if err != nil || len(Diff(was, stored)) != 0 || len(stored) != 4 || stored[3].Guards[0] != `a == "x"` || stored[2].Inputs[0] != "*a" {
		t.Fatalf("a graph against itself: %v, %v, %+v", Diff(was, stored), err, stored)
	}
	if dagHash(g(nil)) != dagHash(g(nil)) {
		t.Error("the hash of a graph changes")
	}
	for _, c := range []struct {
		change func(*runtime.Graph)
		want   string
	}{
		{func(gr *runtime.Graph) { gr.Nodes[2].Task = "b2" }, "~ b: task was b, now b2"},
		{func(gr *runtime.Graph) { gr.Nodes[2].Inputs[0].Map = false }, "~ b: inputs was [*a], now [a]"},
		{func(gr *runtime.Graph) { gr.Nodes[3].Upstream = nil }, "~ c: upstream_tasks was [a], now none"},
		{func(gr *runtime.Graph) { gr.Nodes[3].Guards[0].Label = `== "y"` }, `~ c: conditions was [a == "x"], now [a == "y"]`},
		{func(gr *runtime.Graph) { gr.Add(&runtime.Node{Name: "d", Task: "d"}) }, "+ d: new call of task d"},
		{func(gr *runtime.Graph) { gr.Nodes = gr.Nodes[:3] }, "- c: gone (was call of task c)"},
	} {
		now := g(c.change)
		if dagHash(now) == dagHash(g(nil)) {
			t.Errorf("%s: same hash", c.want)
		}
		if d := strings.Join(Diff(was, DAGOf(now)), "\n"); d != c.want {
			t.Errorf("diff:\n%s\nwant:\n%s", d, c.want)
		}
	}
}
