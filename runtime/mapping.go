package runtime

import (
	"fmt"
	"strconv"
)

// expand creates the children of a mapped node run: one per element of its
// mapped inputs, zipped to the shortest.
func (x *executor) expand(r *run) {
	n := r.node
	cols, length, err := x.mappedColumns(n)
	if err != nil {
		x.finish(r, Failed, err.Error(), nil)
		return
	}
	ExpectTasks(length)
	r.children = make([]*run, length)
	r.left = length
	x.emit(Event{Kind: MapExpanded, Node: n.ID, NodeName: n.Name, TaskRun: r.name, MapIndex: -1, Children: length})
	if length == 0 {
		x.finishMapped(r)
		return
	}
	// One allocation for all children and one for all their inputs.
	kids := make([]run, length)
	inputs := make([]Value, length*len(n.Inputs))
	for i := range kids {
		c := &kids[i]
		*c = run{node: n, index: i, parent: r, name: r.name + "[" + strconv.Itoa(i) + "]",
			inputs: inputs[i*len(n.Inputs) : (i+1)*len(n.Inputs) : (i+1)*len(n.Inputs)]}
		for j, in := range n.Inputs {
			if in.Map {
				c.inputs[j] = cols[j][i]
			} else {
				c.inputs[j] = x.runs[in.From].value
			}
		}
		r.children[i] = c
	}
	// Without element-wise inputs, every child has the upstream states its
	// parent was already gated on.
	elementWise := x.hasElementWise(n)
	for i, c := range r.children {
		if elementWise {
			if st, msg, ok := x.gate(n, x.upstreamStates(n, c, i)); !ok {
				x.finish(c, st, msg, nil)
				continue
			}
		}
		x.enqueue(c)
	}
}

func (x *executor) hasElementWise(n *Node) bool {
	for _, d := range x.deps[n.ID] {
		if x.elementWise(n, d) {
			return true
		}
	}
	return false
}

// mappedColumns returns, for each mapped input, its elements: the children
// of a mapped upstream, or the split of an upstream's value.
func (x *executor) mappedColumns(n *Node) ([][]Value, int, error) {
	cols := make([][]Value, len(n.Inputs))
	length := -1
	for j, in := range n.Inputs {
		if !in.Map {
			continue
		}
		src := x.runs[in.From]
		var col []Value
		if x.elementWise(n, in.From) {
			col = make([]Value, len(src.children))
			for i, c := range src.children {
				col[i] = c.value
			}
		} else {
			vals, err := x.g.Values.Split(src.value)
			if err != nil {
				return nil, 0, fmt.Errorf("cannot map over the result of %s: %v", src.name, err)
			}
			col = vals
		}
		cols[j] = col
		if length < 0 || len(col) < length {
			length = len(col)
		}
	}
	return cols, max(length, 0), nil
}

// finishMapped ends a mapped node once all its children are final: Mapped
// when every child succeeded, Failed otherwise.
func (x *executor) finishMapped(r *run) {
	vals := make([]Value, len(r.children))
	failed := 0
	for i, c := range r.children {
		vals[i] = c.value
		if !c.state.Successful() {
			failed++
		}
	}
	v := x.g.Values.Join(vals)
	if failed > 0 {
		x.finish(r, Failed, fmt.Sprintf("%d of %d mapped task runs failed", failed, len(r.children)), v)
		return
	}
	x.finish(r, Mapped, "", v)
}
