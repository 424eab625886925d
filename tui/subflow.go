package tui

import (
	"strconv"
	"strings"

	"github.com/wfsh/wfsh/runtime"
)

// applyChild folds an event of a child flow run into that run's pane,
// made at the run's first event under the row of its subflow in its
// parent's pane. Its rows are listed under that row once it is expanded.
func (m *Model) applyChild(e *runtime.Event) {
	c := m.byRun[e.RunID]
	if c == nil {
		if e.Kind != runtime.FlowStarted {
			return
		}
		if c = m.newChild(e); c == nil {
			return
		}
	}
	ev := *e
	ev.Parent, ev.ParentTaskRun = "", "" // the child pane's own run
	was := len(c.order)
	c.apply(&ev)
	if c.open && len(c.order) != was || c.open && m.filter != filterAll {
		m.visDirty = true
	}
}

// newChild makes the pane of the child flow run e starts, under its
// subflow's row in its parent's pane; nil if that row is not known.
func (m *Model) newChild(e *runtime.Event) *Model {
	p := m
	if e.Parent != m.runID {
		if p = m.byRun[e.Parent]; p == nil {
			return nil
		}
	}
	r, sub, ok := p.subflowRow(e.ParentTaskRun)
	if !ok {
		return nil
	}
	c := New(Options{Graph: sub, Flow: e.Flow, RunID: e.RunID, Now: m.opt.Now})
	c.st, c.up, c.upRef, c.indent = m.st, p, r, p.indent+2
	if r.child >= 0 {
		c.indent += 2 // under a mapped child's row, itself indented
	}
	c.prefix = p.prefix + p.runName(r) + "/"
	if p.subs == nil {
		p.subs = map[ref]*Model{}
	}
	p.subs[r] = c
	if m.byRun == nil {
		m.byRun = map[string]*Model{}
	}
	m.byRun[e.RunID] = c
	m.visDirty = true
	return c
}

// subflowRow finds the row of the subflow task run named name ("report",
// "report-2[1]") and the subflow's child flow, if the pane has its graph.
func (m *Model) subflowRow(name string) (ref, *runtime.Graph, bool) {
	node, child := name, int32(-1)
	if i := strings.LastIndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		if k, err := strconv.Atoi(name[i+1 : len(name)-1]); err == nil {
			node, child = name[:i], int32(k)
		}
	}
	node = runtime.Printable(node)
	for _, id := range m.order {
		if m.nodes[id].name != node {
			continue
		}
		var sub *runtime.Graph
		if g := m.opt.Graph; g != nil && int(id) < len(g.Nodes) {
			sub = g.Nodes[id].Sub
		}
		return ref{node: id, child: child}, sub, true
	}
	return ref{}, nil, false
}

// owner returns the pane a row of the list belongs to, and the row
// within it.
func (m *Model) owner(r ref) (*Model, ref) {
	if r.sub == nil {
		return m, r
	}
	return r.sub, r.local()
}

// subOf returns the pane of the child flow run of the subflow row r (of
// the list), or nil.
func (m *Model) subOf(r ref) *Model {
	p, lr := m.owner(r)
	return p.subs[lr]
}

// setSubOpen opens or closes the child flow run of the selected subflow
// row; closing from a row of a child run closes that run and selects its
// subflow's row. It reports whether it did anything.
func (m *Model) setSubOpen(open bool) bool {
	if c := m.subOf(m.sel); c != nil && c.open != open {
		c.open = open
		return true
	}
	if open || m.sel.sub == nil {
		return false
	}
	c := m.sel.sub
	c.open = false
	m.sel = c.upRef
	if c.up != m {
		m.sel.sub = c.up
	}
	return true
}

// isSubflow reports whether row r of pane p is a subflow's run (not its
// mapped task's own row).
func (p *Model) isSubflow(r ref) bool {
	n := &p.nodes[r.node]
	return n.kind == runtime.FlowNode && (r.child >= 0 || !n.mapped)
}
