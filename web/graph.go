package web

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/wfsh/wfsh/dot"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// GraphNode is a node of a run's graph with its state: a mapped task is
// one node, its progress Done of Total children.
type GraphNode struct {
	Index       int
	Name, Task  string
	Kind        string
	Mapped      bool
	State       runtime.State
	Done, Total int
}

// Graph is a run's graph as its page shows it.
type Graph struct {
	Nodes []GraphNode
	// SVG is the server's drawing, DOT what the page has Graphviz lay
	// out instead; Note says how it is drawn, or why not.
	SVG  template.HTML
	DOT  string
	Note string
	// Layers are the nodes' layers when the graph is drawn by layers.
	Layers []int
}

// Index lists the nodes as [run name, mapped, layer, state], in order:
// the page's script finds node i of a task's events as the SVG group
// n<i>, or, for a graph drawn by layers, counts it in group L<layer>.
func (g *Graph) Index() [][4]any {
	out := make([][4]any, len(g.Nodes))
	for i, n := range g.Nodes {
		l := -1
		if g.Layers != nil {
			l = g.Layers[i]
		}
		out[i] = [4]any{n.Name, n.Mapped, l, n.State}
	}
	return out
}

// graphNodes gives each node of dag the state of its task run, a
// mapped node the count of its children (GET /runs/{id}/tasks).
func graphNodes(dag []server.DAGNode, tasks []store.TaskSummary) []GraphNode {
	at := make(map[string]int, len(tasks))
	for i, t := range tasks {
		at[t.Name] = i
	}
	out := make([]GraphNode, len(dag))
	for i, n := range dag {
		out[i] = GraphNode{Index: i, Name: n.Name, Task: n.Task, Kind: n.Kind, Mapped: n.Mapped, State: runtime.Pending}
		if j, ok := at[n.Name]; ok {
			t := &tasks[j]
			out[i].State, out[i].Done, out[i].Total = t.State, t.Done, t.Runs
		}
	}
	return out
}

// edge is an edge of the graph: from, to, and its style.
type edge struct {
	from, to int
	style    string
}

func edges(dag []server.DAGNode) []edge {
	at := make(map[string]int, len(dag))
	for i, n := range dag {
		at[n.Name] = i
	}
	var out []edge
	add := func(name string, to int, style string) {
		if from, ok := at[name]; ok {
			out = append(out, edge{from, to, style})
		}
	}
	for i, n := range dag {
		for _, in := range n.Inputs {
			if name, ok := strings.CutPrefix(in, "*"); ok {
				add(name, i, "bold")
			} else {
				add(in, i, "solid")
			}
		}
		for _, up := range n.Upstream {
			add(up, i, "dashed")
		}
		for _, g := range n.Guards {
			name, _, _ := strings.Cut(g, " ")
			add(name, i, "dotted")
		}
	}
	return out
}

// MaxBrowserNodes is the largest graph a run's page has Graphviz lay
// out in the browser (WebAssembly); larger ones the server draws. The
// figures it comes from are in docs/ui.md ("The graph").
const MaxBrowserNodes = 400

// draw gives what a run's page draws its graph from: up to
// MaxBrowserNodes the DOT that Graphviz lays out in the browser, to
// maxNodes a layered drawing of the server's own, past it the graph by
// layers. In each drawing node i is the SVG group n<i> with class
// st-<state>: the page's style colours it, its script recolours it as
// the run's events come.
func draw(flow string, dag []server.DAGNode, nodes []GraphNode) Graph {
	g := Graph{Nodes: nodes}
	switch es := edges(dag); {
	case len(nodes) > maxNodes:
		g.SVG = summary(nodes, es)
		g.Layers = layers(len(dag), es)
		g.Note = fmt.Sprintf("%d nodes: drawn by layers (the longest path from a source), each counting its tasks; the task runs and the log below list them", len(nodes))
	case len(nodes) > MaxBrowserNodes:
		g.SVG = layered(nodes, es)
		g.Note = fmt.Sprintf("%d nodes: drawn in layers by wfsh (Graphviz lays out up to %d in the browser)", len(nodes), MaxBrowserNodes)
	default:
		g.DOT = pageDOT(flow, dag, nodes)
		g.Note = "laid out by Graphviz in the browser"
	}
	return g
}

// runGraph is a run's recorded graph (GET /runs/{id}/dag) as package
// dot draws it: its nodes, kinds and edges (the record keeps no
// triggers and no child flows of subflows).
func runGraph(flow string, dag []server.DAGNode) *runtime.Graph {
	g := &runtime.Graph{Flow: flow}
	at := make(map[string]runtime.NodeID, len(dag))
	for i, n := range dag {
		at[n.Name] = runtime.NodeID(i)
	}
	for _, n := range dag {
		node := &runtime.Node{Name: n.Name, Task: n.Task, Kind: nodeKind(n.Kind), Mapped: n.Mapped}
		for _, in := range n.Inputs {
			name, mapped := strings.CutPrefix(in, "*")
			if id, ok := at[name]; ok {
				node.Inputs = append(node.Inputs, runtime.Input{From: id, Map: mapped})
			}
		}
		for _, up := range n.Upstream {
			if id, ok := at[up]; ok {
				node.Upstream = append(node.Upstream, id)
			}
		}
		for _, gd := range n.Guards {
			name, label, _ := strings.Cut(gd, " ")
			if id, ok := at[name]; ok {
				node.Guards = append(node.Guards, runtime.Guard{Cond: id, Label: label})
			}
		}
		g.Add(node)
	}
	return g
}

func nodeKind(kind string) runtime.NodeKind {
	switch kind {
	case "param":
		return runtime.ParamNode
	case "const":
		return runtime.ConstNode
	case "flow":
		return runtime.FlowNode
	}
	return runtime.TaskNode
}

// runDOT is the run's graph in DOT as `wfsh graph --run` writes it:
// nodes filled with their state's colour and naming it.
func runDOT(flow string, dag []server.DAGNode, nodes []GraphNode) []byte {
	states := make(map[string]runtime.State, len(nodes))
	for _, n := range nodes {
		states[n.Name] = n.State
	}
	var b bytes.Buffer
	dot.Write(&b, runGraph(flow, dag), dot.Options{States: states})
	return b.Bytes()
}

// pageDOT is the DOT a run's page lays out: as `wfsh graph` draws it,
// each node with the id and state class the page colours it by, a
// mapped one with its progress as its last line.
func pageDOT(flow string, dag []server.DAGNode, nodes []GraphNode) string {
	opts := dot.Options{Page: true, States: make(map[string]runtime.State, len(nodes)), Notes: map[string]string{}}
	for _, n := range nodes {
		opts.States[n.Name] = n.State
		if n.Mapped {
			opts.Notes[n.Name] = progress(n.Done, n.Total)
		}
	}
	var b strings.Builder
	dot.Write(&b, runGraph(flow, dag), opts)
	return b.String()
}

// progress is a mapped node's count of its children done.
func progress(done, total int) string { return fmt.Sprintf("%d/%d done", done, total) }

// layered draws the graph without Graphviz: each node in the column of
// its longest path from a source, in graph order down the column; edges
// are straight lines. Enough for a graph of thousands of nodes to open
// at once and stay readable by zooming; Graphviz lays out the small ones
// in the browser. A mapped node's progress is its tspan "count".
func layered(nodes []GraphNode, es []edge) template.HTML {
	const w, h, dx, dy = 160, 26, 200, 34
	layer := layers(len(nodes), es)
	row := make([]int, len(nodes))
	count := map[int]int{}
	cols, rows := 0, 0
	for i := range nodes {
		row[i] = count[layer[i]]
		count[layer[i]]++
		cols, rows = max(cols, layer[i]+1), max(rows, row[i]+1)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" class="layered">`,
		cols*dx, rows*dy+10, cols*dx, rows*dy+10)
	// One path per edge style: 20,000 edges are one element each way
	// of drawing, not 20,000 elements for the browser to lay out.
	for _, style := range []string{"solid", "bold", "dashed", "dotted"} {
		var d strings.Builder
		for _, e := range es {
			if e.style == style {
				fmt.Fprintf(&d, "M%d %dL%d %d", layer[e.from]*dx+w+5, row[e.from]*dy+5+h/2, layer[e.to]*dx+5, row[e.to]*dy+5+h/2)
			}
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path class="e-%s" d="%s"/>`, style, d.String())
		}
	}
	for i := range nodes {
		n := &nodes[i]
		x, y := layer[i]*dx+5, row[i]*dy+5
		name, count := clip(n.Name, 22), ""
		if n.Mapped {
			name, count = clip(n.Name, 10), ` <tspan class="count">`+progress(n.Done, n.Total)+`</tspan>`
		}
		fmt.Fprintf(&b, `<g id="n%d" class="gnode st-%s"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="5"/><text x="%d" y="%d">%s%s</text></g>`,
			i, n.State, template.HTMLEscapeString(n.Task+": "+n.State.String()), x, y, w, h, x+8, y+17, template.HTMLEscapeString(name), count)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// layers gives each node the length of the longest path to it from a
// source, by rounds: a graph's edges mostly point forward, so one or
// two rounds settle it; the bound keeps a cycle finite.
func layers(n int, es []edge) []int {
	layer := make([]int, n)
	for round := 0; round < n; round++ {
		changed := false
		for _, e := range es {
			if layer[e.from]+1 > layer[e.to] {
				layer[e.to], changed = layer[e.from]+1, true
			}
		}
		if !changed {
			break
		}
	}
	return layer
}

// maxNodes is the largest graph drawn node by node; past it, a graph is
// drawn by its layers (the longest path from a source), each one node
// counting its tasks by state: thousands of nodes are more than a page
// can show or a browser lay out at once (a 10,000-node drawing took
// Chromium 3 s to parse here), and no one reads them one by one.
const maxNodes = 2000

// Layer is a layer of a graph drawn by layers.
type Layer struct {
	Index, Total int
	// Counts are the layer's tasks by state, in the order of States.
	Counts map[runtime.State]int
	State  runtime.State
}

// layerState is the state a layer shows: Failed if a task failed,
// Running while any runs or waits after one started, Success once all
// are final, else Pending.
func layerState(c map[runtime.State]int, total int) runtime.State {
	finished, failed, started := 0, 0, 0
	for st, k := range c {
		if st.Finished() {
			finished += k
		}
		if st.IsFailed() {
			failed += k
		}
		if st != runtime.Pending {
			started += k
		}
	}
	switch {
	case failed > 0:
		return runtime.Failed
	case finished == total:
		return runtime.Success
	case started > 0:
		return runtime.Running
	}
	return runtime.Pending
}

// summary draws a graph by its layers, one node each, left to right,
// an edge where any edge joins two layers.
func summary(nodes []GraphNode, es []edge) template.HTML {
	const w, h, dx = 150, 44, 190
	layer := layers(len(nodes), es)
	var ls []Layer
	for i := range nodes {
		for len(ls) <= layer[i] {
			ls = append(ls, Layer{Index: len(ls), Counts: map[runtime.State]int{}})
		}
		ls[layer[i]].Total++
		ls[layer[i]].Counts[nodes[i].State]++
	}
	cols := min(len(ls), 8)
	rowsN := (len(ls) + cols - 1) / cols
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" class="layered">`,
		cols*dx, rowsN*(h+26)+10, cols*dx, rowsN*(h+26)+10)
	pos := func(l int) (int, int) { return (l%cols)*dx + 5, (l/cols)*(h+26) + 5 }
	joined := map[[2]int]bool{}
	var d strings.Builder
	for _, e := range es {
		a, z := layer[e.from], layer[e.to]
		if a == z || joined[[2]int{a, z}] {
			continue
		}
		joined[[2]int{a, z}] = true
		x1, y1 := pos(a)
		x2, y2 := pos(z)
		fmt.Fprintf(&d, "M%d %dL%d %d", x1+w, y1+h/2, x2, y2+h/2)
	}
	if d.Len() > 0 {
		fmt.Fprintf(&b, `<path class="e-solid" d="%s"/>`, d.String())
	}
	for i := range ls {
		l := &ls[i]
		l.State = layerState(l.Counts, l.Total)
		x, y := pos(i)
		done := 0
		for st, k := range l.Counts {
			if st.Finished() {
				done += k
			}
		}
		fmt.Fprintf(&b, `<g id="L%d" class="gnode st-%s"><title>layer %d: %d tasks</title><rect x="%d" y="%d" width="%d" height="%d" rx="5"/>`+
			`<text x="%d" y="%d">layer %d</text><text x="%d" y="%d" class="count">%d/%d done</text></g>`,
			i, l.State, i, l.Total, x, y, w, h, x+8, y+17, i, x+8, y+35, done, l.Total)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
