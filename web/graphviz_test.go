package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// layered is a graph of layers of width tasks, each taking two results
// of the layer before (W3's shape, docs/performance.md, at any size).
func layeredGraph(layers, width int) *runtime.Graph {
	g := &runtime.Graph{Flow: "L"}
	for l := range layers {
		for i := range width {
			n := &runtime.Node{Name: fmt.Sprintf("t%d_%d", l, i), Task: "step", Kind: runtime.TaskNode}
			if l > 0 {
				n.Inputs = []runtime.Input{{From: runtime.NodeID((l-1)*width + i)}, {From: runtime.NodeID((l-1)*width + (i+1)%width)}}
			}
			g.Add(n)
		}
	}
	return g
}

// tangledGraph is a graph of layers of width tasks, each taking two
// results of random tasks of the three layers before: more crossings
// for Graphviz to sort out than layeredGraph's.
func tangledGraph(layers, width int) *runtime.Graph {
	rnd := rand.New(rand.NewPCG(1, 2))
	g := &runtime.Graph{Flow: "T"}
	for l := range layers {
		for i := range width {
			n := &runtime.Node{Name: fmt.Sprintf("t%d_%d", l, i), Task: "step", Kind: runtime.TaskNode}
			for k := 0; l > 0 && k < 2; k++ {
				from := max(0, l-1-rnd.IntN(3))*width + rnd.IntN(width)
				n.Inputs = append(n.Inputs, runtime.Input{From: runtime.NodeID(from)})
			}
			g.Add(n)
		}
	}
	return g
}

// apiDAGOf is g's graph as the API gives it.
func apiDAGOf(g *runtime.Graph) []server.DAGNode {
	d := store.DAGOf(g)
	out := make([]server.DAGNode, len(d))
	for i, n := range d {
		out[i] = server.DAGNode{Name: n.Name, Task: n.Task, Kind: n.Kind, Mapped: n.Mapped, Inputs: n.Inputs, Upstream: n.Upstream, Guards: n.Guards}
	}
	return out
}

// graphTimes are what drawGraph leaves on its box, in ms: the module
// fetched and compiled, the layout, the SVG put in the page, and a
// frame later.
type graphTimes struct {
	Load, Layout, Insert, Shown float64
	Drawn                       string
}

const readTimes = `(b => ({Load: +b.loadMs, Layout: +b.layoutMs, Insert: +b.insertMs, Shown: +b.shownMs, Drawn: b.drawn || ""}))(document.getElementById("graph").dataset)`

// TestGraphviz: a run's page has its graph laid out by Graphviz in
// WebAssembly, in the browser, up to MaxBrowserNodes nodes (a run of
// that many, tangledGraph's shape, opened three times: the time to the
// drawing shown, from the navigation); then the layout alone of graphs
// of 100, 400, 1,000 and 2,000 nodes of both shapes in that page, to
// show where the bound comes from (docs/ui.md, "The graph"). The runs
// page never loads the module.
func TestGraphviz(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	f := newFixture(t)
	f.deploy(t)
	r := f.runOf(t, `{"who":"x"}`)
	g := tangledGraph(MaxBrowserNodes/40, 40)
	w := f.claim(t, g)
	w.emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "L", Node: runtime.NoNode, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "t0_0", Node: 0, State: runtime.Success, MapIndex: -1})
	waitDAG(t, f, r.ID)
	ctx := browse(t)
	logIn(t, ctx, f, f.admin.Token)
	if loaded := value(t, ctx, "resources", chromedp.Evaluate[bool](graphvizLoaded)); loaded {
		t.Errorf("the runs page loaded Graphviz's module")
	}
	var shown []time.Duration
	var first graphTimes
	for i := range 3 {
		run(t, ctx, "open the run", chromedp.Navigate(f.http.URL+"/runs/"+r.ID))
		waitJSWithin(t, ctx, time.Minute, "the graph laid out by Graphviz", `document.getElementById("graph").dataset.shownMs !== undefined`)
		tm := value(t, ctx, "times", chromedp.Evaluate[graphTimes](readTimes))
		if i == 0 {
			first = tm
		}
		at := value(t, ctx, "shown at", chromedp.Evaluate[float64](`+document.getElementById("graph").dataset.shownAt`))
		shown = append(shown, time.Duration(at*float64(time.Millisecond)).Round(time.Millisecond))
		t.Logf("%d nodes: module %.0f ms, layout %.0f ms, in the page %.0f ms, shown %.0f ms later; %v after the navigation began",
			len(g.Nodes), tm.Load, tm.Layout, tm.Insert, tm.Shown, shown[i])
	}
	if first.Drawn != "graphviz" {
		t.Fatalf("the graph was not drawn by Graphviz: %+v", first)
	}
	waitJS(t, ctx, "Graphviz's SVG: its graph group, node groups of class node with the page's ids, t0_0 Success",
		`!!document.querySelector("#graph svg > g#graph0.graph") && document.querySelectorAll("#graph g.node.gnode").length === `+fmt.Sprint(len(g.Nodes))+` &&
		document.getElementById("n0").classList.contains("st-Success") && document.querySelector("#n0 title").textContent === "t0_0: Success"`)
	t.Logf("a run of %d nodes, its graph shown %v after the navigation began (median %v)", len(g.Nodes), shown, pct(shown, 50))

	// The layout alone, in this page (the module loaded), by size: a
	// measurement (about 80 s with the graphs of 2,000 nodes), not run by
	// make test; WFSH_GRAPHVIZ_SIZES=1 runs it.
	if os.Getenv("WFSH_GRAPHVIZ_SIZES") == "" {
		t.Log("the layout by size: WFSH_GRAPHVIZ_SIZES=1 measures it")
		return
	}
	for _, c := range []struct{ layers, width, times int }{{10, 10, 3}, {20, 20, 3}, {25, 40, 3}, {50, 40, 2}} {
		for _, shape := range []func(int, int) *runtime.Graph{layeredGraph, tangledGraph} {
			big := shape(c.layers, c.width)
			dag := apiDAGOf(big)
			src := pageDOT(big.Flow, dag, graphNodes(dag, nil))
			var lay []time.Duration
			for range c.times {
				tm := layout(t, ctx, src)
				lay = append(lay, time.Duration((tm.Layout+tm.Insert+tm.Shown)*float64(time.Millisecond)).Round(time.Millisecond))
				t.Logf("%s %d nodes: layout %.0f ms, in the page %.0f ms, shown %.0f ms later", big.Flow, len(big.Nodes), tm.Layout, tm.Insert, tm.Shown)
			}
			t.Logf("%s %d nodes, %d KB of DOT: laid out and shown in %v (median %v)", big.Flow, len(big.Nodes), len(src)>>10, lay, pct(lay, 50))
		}
	}
}

// graphvizLoaded says whether the page fetched Graphviz's module.
const graphvizLoaded = `performance.getEntriesByType("resource").some(e => e.name.includes("wasm-graphviz"))`

// layout has the page's drawGraph lay out src in a box of its own and
// gives the times it took.
func layout(t *testing.T, ctx context.Context, src string) graphTimes {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	js := `(async (src) => {
		const box = document.createElement("div");
		box.className = "graph";
		document.querySelector("main").append(box);
		await drawGraph(box, src);
		await new Promise((ok) => { const wait = () => box.dataset.shownMs === undefined ? setTimeout(wait, 10) : ok(); wait(); });
		const b = box.dataset;
		box.remove();
		return {Load: +b.loadMs, Layout: +b.layoutMs, Insert: +b.insertMs, Shown: +b.shownMs, Drawn: b.drawn || ""};
	})(` + jsString(src) + `)`
	tm, err := chromedp.Run(ctx, chromedp.Evaluate[graphTimes](js, chromedp.EvalAwaitPromise))
	if err != nil || tm.Drawn != "graphviz" {
		t.Fatalf("laying out %d bytes of DOT: %+v %v", len(src), tm, err)
	}
	return tm
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
