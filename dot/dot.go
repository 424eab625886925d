// Package dot draws a flow's DAG (a runtime.Graph) in Graphviz's DOT
// language, for `wfsh graph`, and, with the final state of each node, for a
// finished run (`flow.visualize()`, `wfsh graph --run`). It writes DOT
// itself and imports only runtime and the standard library; SVG and PNG are
// Graphviz's job (`dot -Tsvg`).
//
// The drawing, so that a reader tells every kind of node and edge apart:
//
//   - parameters are ellipses; tasks are boxes; reference tasks (those the
//     flow's state comes from: Graph.References) have a bold border;
//   - a mapped task has a double border and a "[mapped]" line;
//   - a trigger other than all_successful is shown as a "trigger: NAME" line;
//   - a subflow is a box with a "[subflow NAME]" line (shape=component),
//     drawn in a cluster ("subgraph cluster_NAME") with its child flow,
//     whose nodes are named under it ("report/fetch") and whose
//     parameters it points to with dotted edges;
//   - constant nodes (a literal list given to .map, assembled at run time)
//     are kept, drawn small as plain text, so that every edge stays exactly
//     as the graph has it;
//   - data edges are solid and unlabelled; mapped data edges are bold and
//     labelled "map"; ordering edges (upstream_tasks) are dashed; branch
//     edges go from the condition to the guarded node, dotted and labelled
//     with the guard (`is True`, `== "b"`).
//
// With Options.States, nodes are filled with their state's colour
// (StateColor) and get a line naming the state. Output is stable: nodes in
// graph order, then each node's incoming edges in the order data, ordering,
// branch.
package dot

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/wfsh/wfsh/runtime"
)

// Options change what Write draws.
type Options struct {
	// States, by run name ("say-2"), colours the nodes of a finished run.
	// Nodes missing from it are drawn uncoloured; nil draws the plain DAG.
	States map[string]runtime.State
	// Page writes the DOT that a web page lays out with Graphviz and then
	// colours by its own style, live: each top-level node i gets the SVG
	// id "n<i>" and the class "gnode st-<State>" (Pending when States has
	// none) in place of a fill colour and a state line, and the graph a
	// transparent background, laid out left to right (a page is wider than
	// tall), so that the page finds a node by its index and not by
	// Graphviz's own ids.
	Page bool
	// Notes adds a last line to nodes' labels, by run name (a mapped
	// task's progress on a page: "3/10 done").
	Notes map[string]string
}

// Font is the font of every label.
const Font = "Helvetica"

// Write writes g as a DOT digraph to w.
func Write(w io.Writer, g *runtime.Graph, opts Options) error {
	if g == nil {
		return errors.New("graph: nil graph")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", Quote(g.Flow))
	bg := ""
	if opts.Page {
		bg = `, bgcolor="transparent", rankdir=LR`
	}
	fmt.Fprintf(&b, "\tgraph [label=%s, labelloc=t, fontname=%s%s];\n", Quote(g.Flow), Quote(Font), bg)
	fmt.Fprintf(&b, "\tnode [shape=box, fontname=%s, fontsize=11];\n", Quote(Font))
	fmt.Fprintf(&b, "\tedge [fontname=%s, fontsize=9];\n", Quote(Font))

	// References reads every edge: check them first.
	for i, n := range g.Nodes {
		if n == nil {
			return fmt.Errorf("graph: node %d is nil", i)
		}
		for _, id := range g.Deps(n) {
			if id < 0 || int(id) >= len(g.Nodes) {
				return fmt.Errorf("graph: node %q has an edge from unknown node %d", n.Name, id)
			}
		}
	}
	if len(g.Nodes) > 0 {
		b.WriteByte('\n')
	}
	writeBody(&b, g, "", "\t", opts)
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeBody writes g's nodes, then its edges, each line after indent and
// each node's name after prefix ("report/" in a subflow's cluster). A
// subflow node is drawn with its child flow in a cluster of its own.
func writeBody(b *strings.Builder, g *runtime.Graph, prefix, indent string, opts Options) {
	ref := make(map[runtime.NodeID]bool)
	for _, id := range g.References() {
		ref[id] = true
	}
	for i, n := range g.Nodes {
		if n.Sub != nil {
			writeCluster(b, n, prefix, indent, ref[runtime.NodeID(i)], opts)
			continue
		}
		id := -1
		if prefix == "" {
			id = i
		}
		writeNode(b, n, prefix, indent, id, ref[runtime.NodeID(i)], opts)
	}

	first := prefix == ""
	edge := func(from runtime.NodeID, to *runtime.Node, attrs string) {
		if first {
			b.WriteByte('\n')
			first = false
		}
		fmt.Fprintf(b, "%s%s -> %s", indent, Quote(prefix+g.Nodes[from].Name), Quote(prefix+to.Name))
		if attrs != "" {
			fmt.Fprintf(b, " [%s]", attrs)
		}
		b.WriteString(";\n")
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			attrs := ""
			if in.Map {
				attrs = `label="map", style=bold`
			}
			edge(in.From, n, attrs)
		}
		for i, id := range n.Upstream {
			if seen(n.Upstream[:i], id) {
				continue
			}
			edge(id, n, "style=dashed")
		}
		for i, gd := range n.Guards {
			if seenGuard(n.Guards[:i], gd) {
				continue
			}
			edge(gd.Cond, n, "style=dotted, label="+Quote(gd.Label))
		}
	}
}

// writeCluster draws subflow node n and its child flow in a cluster
// ("cluster_report"), the child's nodes named under n's ("report/fetch"),
// with an edge from n to each of the child's parameters.
func writeCluster(b *strings.Builder, n *runtime.Node, prefix, indent string, ref bool, opts Options) {
	name := prefix + n.Name
	fmt.Fprintf(b, "%ssubgraph %s {\n", indent, Quote("cluster_"+name))
	fmt.Fprintf(b, "%s\tgraph [label=%s, labelloc=t, style=rounded];\n", indent, Quote("subflow "+n.Sub.Flow))
	writeNode(b, n, prefix, indent+"\t", -1, ref, opts)
	writeBody(b, n.Sub, name+"/", indent+"\t", opts)
	for _, id := range n.Sub.Params {
		fmt.Fprintf(b, "%s\t%s -> %s [style=dotted];\n", indent, Quote(name), Quote(name+"/"+n.Sub.Nodes[id].Name))
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

// writeNode writes node n; id is its index among the top-level nodes
// (-1 in a subflow's cluster), its SVG id on a page.
func writeNode(b *strings.Builder, n *runtime.Node, prefix, indent string, id int, ref bool, opts Options) {
	lines := []string{n.Name}
	var attrs []string
	var styles []string
	switch n.Kind {
	case runtime.ParamNode:
		attrs = append(attrs, "shape=ellipse")
	case runtime.ConstNode:
		attrs = append(attrs, "shape=plaintext", "fontsize=9")
	case runtime.FlowNode:
		if n.Sub != nil {
			lines = append(lines, "[subflow "+n.Sub.Flow+"]")
		} else { // a run's recorded graph holds no child flow
			lines = append(lines, "[subflow]")
		}
		attrs = append(attrs, "shape=component")
	}
	if n.Mapped {
		lines = append(lines, "[mapped]")
		attrs = append(attrs, "peripheries=2")
	}
	if n.Trigger.Name != "" && n.Trigger.Name != runtime.AllSuccessful.Name {
		lines = append(lines, "trigger: "+n.Trigger.Name)
	}
	if note, ok := opts.Notes[prefix+n.Name]; ok {
		lines = append(lines, note)
	}
	if opts.Page && id >= 0 {
		s, ok := opts.States[n.Name]
		if !ok {
			s = runtime.Pending
		}
		attrs = append(attrs, fmt.Sprintf(`id="n%d"`, id), "class="+Quote("gnode st-"+s.String()))
	} else if s, ok := opts.States[prefix+n.Name]; ok {
		fill, font := StateColor(s)
		lines = append(lines, s.String())
		styles = append(styles, "filled")
		attrs = append(attrs, "fillcolor="+Quote(fill))
		if font != "" {
			attrs = append(attrs, "fontcolor="+Quote(font))
		}
	}
	if ref {
		styles = append(styles, "bold")
	}
	if len(styles) > 0 {
		attrs = append(attrs, "style="+Quote(strings.Join(styles, ",")))
	}
	label := make([]string, len(lines))
	for i, l := range lines {
		label[i] = escape(l)
	}
	fmt.Fprintf(b, "%s%s [label=\"%s\"", indent, Quote(prefix+n.Name), strings.Join(label, `\n`))
	for _, a := range attrs {
		b.WriteString(", ")
		b.WriteString(a)
	}
	b.WriteString("];\n")
}

func seen(ids []runtime.NodeID, id runtime.NodeID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func seenGuard(gs []runtime.Guard, g runtime.Guard) bool {
	for _, x := range gs {
		if x.Cond == g.Cond && x.Label == g.Label {
			return true
		}
	}
	return false
}

// StateColor returns the fill colour of a node in state s, and the font
// colour to use on it ("" for the default, black).
func StateColor(s runtime.State) (fill, font string) {
	switch s {
	case runtime.Success:
		return "#5cb85c", ""
	case runtime.Cached:
		return "#8fd3c4", ""
	case runtime.Mapped:
		return "#c6efc6", ""
	case runtime.Failed:
		return "#e05252", ""
	case runtime.TriggerFailed:
		return "#f4a3a3", ""
	case runtime.TimedOut:
		return "#b22222", "white"
	case runtime.Crashed:
		return "#7f0000", "white"
	case runtime.Skipped:
		return "#d3d3d3", ""
	case runtime.Cancelled:
		return "#ffa500", ""
	case runtime.Running:
		return "#87cefa", ""
	case runtime.Retrying:
		return "#ffd700", ""
	}
	return "white", "" // Pending, and any state without a colour of its own
}

// Quote returns s as a DOT quoted string. In a quoted string DOT itself
// only unescapes \"; labels then read backslash escapes (\n, \l, \N, ...),
// so a backslash is doubled, a newline becomes \n and a carriage return
// \r. Other control characters and invalid UTF-8, which Graphviz rejects,
// become U+FFFD.
func Quote(s string) string {
	return `"` + escape(s) + `"`
}

func escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteByte('\t')
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
