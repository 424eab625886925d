package runtime

import "testing"

func TestTopoOrder(t *testing.T) {
	// 0 <- 2 <- 3, 1 <- 3 (upstream), 4 guarded by 1; listed out of order.
	g := &Graph{Nodes: []*Node{
		{ID: 0, Name: "a"},
		{ID: 1, Name: "b"},
		{ID: 2, Name: "c", Inputs: []Input{{From: 0}}},
		{ID: 3, Name: "d", Inputs: []Input{{From: 2}}, Upstream: []NodeID{1}},
		{ID: 4, Name: "e", Guards: []Guard{{Cond: 1}}},
	}}
	// Put the dependants first, so that order of listing is not enough.
	g.Nodes[0], g.Nodes[3] = g.Nodes[3], g.Nodes[0]
	g.Nodes[0].ID, g.Nodes[3].ID = 0, 3
	g.Nodes[0].Inputs = []Input{{From: 2}}
	g.Nodes[0].Upstream = []NodeID{1}
	g.Nodes[2].Inputs = []Input{{From: 3}}
	order := g.TopoOrder()
	if len(order) != len(g.Nodes) {
		t.Fatalf("TopoOrder lists %d nodes, want %d", len(order), len(g.Nodes))
	}
	at := map[NodeID]int{}
	for i, n := range order {
		if _, dup := at[n.ID]; dup {
			t.Fatalf("node %s listed twice", n.Name)
		}
		at[n.ID] = i
	}
	for _, n := range g.Nodes {
		for _, d := range g.Deps(n) {
			if at[d] > at[n.ID] {
				t.Errorf("%s comes before %s, which it depends on", n.Name, g.Nodes[d].Name)
			}
		}
	}
}
