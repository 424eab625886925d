package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"os/exec"
	"strings"
	"time"

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

// Label is what the node reads.
func (n *GraphNode) Label() string {
	if n.Mapped {
		return fmt.Sprintf("%s %d/%d", n.Name, n.Done, n.Total)
	}
	return n.Name
}

// Graph is a run's graph as its page shows it.
type Graph struct {
	Nodes []GraphNode
	// SVG is the drawing; Note says how it was drawn, or why not.
	SVG  template.HTML
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

// edge is an edge of the graph: from, to, and its DOT style.
type edge struct {
	from, to int
	style    string
	label    string
}

func edges(dag []server.DAGNode) []edge {
	at := make(map[string]int, len(dag))
	for i, n := range dag {
		at[n.Name] = i
	}
	var out []edge
	add := func(name string, to int, style, label string) {
		if from, ok := at[name]; ok {
			out = append(out, edge{from, to, style, label})
		}
	}
	for i, n := range dag {
		for _, in := range n.Inputs {
			if name, ok := strings.CutPrefix(in, "*"); ok {
				add(name, i, "bold", "")
			} else {
				add(in, i, "solid", "")
			}
		}
		for _, up := range n.Upstream {
			add(up, i, "dashed", "")
		}
		for _, g := range n.Guards {
			name, label, _ := strings.Cut(g, " ")
			add(name, i, "dotted", label)
		}
	}
	return out
}

// maxDotNodes is the largest graph Graphviz draws for a page; past it,
// the UI's own layered layout (Graphviz takes seconds on thousands of
// nodes).
const maxDotNodes = 400

// draw draws a run's graph as SVG: by Graphviz's dot when it is there
// and the graph small enough, else by layers of its own. Each node is
// an SVG group with id n<index> and class st-<state>: the page's style
// colours it, and its script recolours it as the run's events come.
func (u *UI) draw(ctx context.Context, dag []server.DAGNode, nodes []GraphNode) (template.HTML, string) {
	es := edges(dag)
	cmd := u.opt.Dot
	if cmd == "" {
		cmd, _ = exec.LookPath("dot")
	}
	if cmd != "" && cmd != "-" && len(nodes) <= maxDotNodes {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		svg, err := dot.Render(ctx, cmd, "svg", dotSource(nodes, es))
		if err == nil {
			if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
				// dot's SVG escapes every label: it is markup of our own.
				return template.HTML(svg[i:]), "drawn by Graphviz"
			}
		}
	}
	switch {
	case len(nodes) > maxNodes:
		return summary(nodes, es), fmt.Sprintf("%d nodes: drawn by layers (the longest path from a source), each counting its tasks; the task runs and the log below list them", len(nodes))
	case len(nodes) > maxDotNodes:
		return layered(nodes, es), fmt.Sprintf("%d nodes: drawn in layers by wfsh (Graphviz draws up to %d)", len(nodes), maxDotNodes)
	}
	return layered(nodes, es), "drawn in layers by wfsh"
}

// dotSource is the graph in DOT, drawn as `wfsh graph` draws it:
// parameters ellipses, tasks boxes, mapped tasks double-bordered; data
// edges solid, mapped ones bold, ordering dashed, conditions dotted.
func dotSource(nodes []GraphNode, es []edge) []byte {
	var b bytes.Buffer
	b.WriteString("digraph run {\n  rankdir=LR;\n  bgcolor=\"transparent\";\n  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11];\n  edge [arrowsize=0.6];\n")
	for i := range nodes {
		n := &nodes[i]
		shape := "box"
		switch {
		case n.Kind == "param":
			shape = "ellipse"
		case n.Mapped:
			shape = "box, peripheries=2"
		}
		fmt.Fprintf(&b, "  n%d [id=\"n%d\", class=\"gnode st-%s\", shape=%s, label=%s, tooltip=%s];\n",
			i, i, n.State, shape, dot.Quote(n.Label()), dot.Quote(n.Task+": "+n.State.String()))
	}
	for _, e := range es {
		fmt.Fprintf(&b, "  n%d -> n%d [style=%s", e.from, e.to, e.style)
		if e.label != "" {
			fmt.Fprintf(&b, ", label=%s", dot.Quote(e.label))
		}
		b.WriteString("];\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// layered draws the graph without Graphviz: each node in the column of
// its longest path from a source, in graph order down the column; edges
// are straight lines. Enough for a graph of thousands of nodes to open
// at once and stay readable by zooming; Graphviz draws the small ones.
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
		fmt.Fprintf(&b, `<g id="n%d" class="gnode st-%s"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="5"/><text x="%d" y="%d">%s</text></g>`,
			i, n.State, template.HTMLEscapeString(n.Task+": "+n.State.String()), x, y, w, h, x+8, y+17, template.HTMLEscapeString(clip(n.Label(), 22)))
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
