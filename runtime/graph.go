package runtime

import (
	"context"
	"fmt"
	"time"
)

// Value is a task result. The runtime never looks inside one: it hands values
// from one body to the next and asks the Graph's ValueOps to split and join
// them for mapping.
type Value = any

// NodeID indexes Graph.Nodes.
type NodeID int32

// NodeKind tells task nodes from parameter nodes.
type NodeKind uint8

const (
	TaskNode NodeKind = iota
	// ParamNode is a flow parameter: its body only returns the value given
	// for the run, so the executor runs it inline.
	ParamNode
	// ConstNode assembles a value from literals and other results (a list
	// of task results given to .map, say); it is run inline too.
	ConstNode
	// FlowNode is a subflow: a flow called in another flow's body. Its
	// Body gives the child flow's parameter values (one per Sub.Params,
	// as a value Values.Split splits); the executor then runs Sub as a
	// child flow run, whose result becomes the node's.
	FlowNode
)

// IsTask reports whether nodes of kind k are task runs of the flow (tasks
// and subflows), not values assembled inline.
func (k NodeKind) IsTask() bool { return k == TaskNode || k == FlowNode }

// Node is one task call in a flow: what to run, on what inputs, and when.
//
// The narrow fields come first, together, so that they share a word.
type Node struct {
	ID   NodeID
	Kind NodeKind
	// SkipOnUpstreamSkip: a skipped upstream run skips this node's
	// (unless its trigger accepts skips).
	SkipOnUpstreamSkip bool
	// Mapped nodes run one child per element of their mapped inputs.
	Mapped bool

	Name string // unique run name: "square", "square-2", ...
	Task string // the task's name, shared by every call of it
	Pos  Pos    // where the task was called in the flow body
	// DefPos is where the task was defined (failures point back at it).
	DefPos Pos

	Inputs   []Input  // data edges, in the order the body receives them
	Upstream []NodeID // ordering edges without data
	Guards   []Guard  // branch conditions (ifelse, switch, case)

	Trigger    Trigger
	Retries    int
	RetryDelay time.Duration
	Timeout    time.Duration // zero means none
	Tags       []string
	// Hooks are called as the node's runs enter states (hook.go).
	Hooks []Hook

	Body Body
	// Sub is a FlowNode's child flow.
	Sub *Graph
}

// Input is a data edge: the body receives From's result. With Map set, on a
// mapped node, it receives one element of it per child.
type Input struct {
	From NodeID
	Map  bool
}

// Guard makes a node run only when Match accepts the result of Cond;
// otherwise the node ends Skipped.
type Guard struct {
	Cond  NodeID
	Label string // e.g. `== "a"`, for messages and graphs
	Match func(Value) (bool, error)
}

// Body is what a node runs. It must return when ctx is done.
type Body interface {
	Run(ctx context.Context, c *Call) (Value, error)
}

// BodyFunc adapts a function to Body.
type BodyFunc func(ctx context.Context, c *Call) (Value, error)

// Run calls f.
func (f BodyFunc) Run(ctx context.Context, c *Call) (Value, error) { return f(ctx, c) }

// Call is what a body knows of its run.
type Call struct {
	RunID    string
	Flow     string
	Node     *Node
	TaskRun  string // run name, with [i] for a mapped child
	MapIndex int    // -1 unless a mapped child
	Attempt  int    // from 1
	Inputs   []Value
	// Params are the flow run's parameter values when they were given
	// at run time (a child flow run's: Options.Params), nil otherwise.
	Params []Value

	x *executor
	r *run
}

// Log sends a line to the task run's log (the flow run's, for a flow
// hook's Call).
func (c *Call) Log(level Level, msg string) {
	if c.x != nil {
		c.x.emitLog(c, level, msg)
	}
}

// WaitingForSlot says that the task run waits for a slot of the
// concurrency limit on tag, which has used slots in use: what a Limiter
// calls once when an attempt has to wait. The task run goes Waiting
// ("waiting for slot db") until its slots are held, and its log says so.
func (c *Call) WaitingForSlot(tag string, used int) {
	c.Log(Info, fmt.Sprintf("waiting for a slot of limit %s (%d in use)", tag, used))
	if c.x != nil && c.r != nil {
		c.x.sched.Lock()
		c.x.emitState(c.r, Waiting, "waiting for slot "+tag, nil)
		c.x.sched.Unlock()
	}
}

// TaskRunID identifies the task run: the flow run's id and the run name.
func (c *Call) TaskRunID() string { return c.RunID + "/" + c.TaskRun }

// ValueOps is how the runtime looks inside values for mapping.
type ValueOps interface {
	// Split returns the elements of v for mapping.
	Split(v Value) ([]Value, error)
	// Join builds a mapped task's result from its children's results.
	Join(vs []Value) Value
}

// Graph is a flow's DAG, built once and then only read.
type Graph struct {
	Flow      string
	Nodes     []*Node
	Reference []NodeID // the flow's state comes from these; empty: terminal nodes
	// Returns says how the flow's result is made of its reference
	// tasks' results (Result.Value).
	Returns Returns
	// Params are the parameter nodes, in the flow's parameter order:
	// Options.Params gives them their values.
	Params []NodeID
	Values ValueOps
	// Hooks are called with the flow run's final state, after every task
	// run's hooks.
	Hooks []Hook
	// Limits caps the task runs of each tag running at once
	// (@flow(limits=...)); Options.Limiter enforces them.
	Limits map[string]int
	// Timeout bounds the whole run (@flow(timeout=...)); zero: none. A
	// run past it is cancelled and ends Failed, "Flow run timed out
	// after ...".
	Timeout time.Duration
}

// Returns says what a flow returns.
type Returns uint8

const (
	ReturnsNone Returns = iota // nothing: the result is nil
	ReturnsOne                 // one task result: the result is its value
	ReturnsList                // a list of them: Values.Join of their values
)

// Add appends n, sets its ID and returns it.
func (g *Graph) Add(n *Node) NodeID {
	n.ID = NodeID(len(g.Nodes))
	if len(g.Nodes) == cap(g.Nodes) {
		// Doubling: append grows a long slice by a quarter, which for a
		// flow of 10,000 calls allocates five times the final slice.
		grown := make([]*Node, len(g.Nodes), max(16, 2*cap(g.Nodes)))
		copy(grown, g.Nodes)
		g.Nodes = grown
	}
	g.Nodes = append(g.Nodes, n)
	return n.ID
}

// Lookup returns the nodes whose run name or task name is name.
func (g *Graph) Lookup(name string) []*Node {
	var out []*Node
	for _, n := range g.Nodes {
		if n.Name == name {
			return []*Node{n}
		}
		if n.Task == name {
			out = append(out, n)
		}
	}
	return out
}

// TopoOrder lists g's nodes so that each comes after what it depends on.
func (g *Graph) TopoOrder() []*Node {
	out := make([]*Node, 0, len(g.Nodes))
	state := make([]uint8, len(g.Nodes))
	var visit func(n *Node)
	visit = func(n *Node) {
		if state[n.ID] != 0 {
			return
		}
		state[n.ID] = 1
		for _, d := range g.Deps(n) {
			visit(g.Nodes[d])
		}
		out = append(out, n)
	}
	for _, n := range g.Nodes {
		visit(n)
	}
	return out
}

// Deps returns the distinct nodes n waits for: data, ordering and guard edges.
func (g *Graph) Deps(n *Node) []NodeID {
	return appendDeps(make([]NodeID, 0, len(n.Inputs)+len(n.Upstream)+len(n.Guards)), n)
}

// appendDeps appends Deps(n) to out, which must hold no dependency of n.
func appendDeps(out []NodeID, n *Node) []NodeID {
	add := func(id NodeID) {
		// Nodes have few dependencies: a linear scan beats a map.
		for _, d := range out {
			if d == id {
				return
			}
		}
		out = append(out, id)
	}
	for _, in := range n.Inputs {
		add(in.From)
	}
	for _, id := range n.Upstream {
		add(id)
	}
	for _, gd := range n.Guards {
		add(gd.Cond)
	}
	return out
}

// Terminal returns the task nodes nothing depends on.
func (g *Graph) Terminal() []NodeID {
	used := make([]bool, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, d := range g.Deps(n) {
			used[d] = true
		}
	}
	var out []NodeID
	for _, n := range g.Nodes {
		if !used[n.ID] && n.Kind.IsTask() {
			out = append(out, n.ID)
		}
	}
	return out
}

// References returns the reference nodes: Reference, or the terminal nodes.
func (g *Graph) References() []NodeID {
	if len(g.Reference) > 0 {
		return g.Reference
	}
	return g.Terminal()
}

// Validate reports every structural problem: edges to unknown nodes, cycles,
// duplicate run names, mapped nodes without mapped inputs.
func (g *Graph) Validate() error { return g.validate(true) }

// ValidateBuilt is Validate for a graph whose run names are distinct by
// construction, as the flow builder's are (builtins' uniqueName): it
// checks everything else, not the names (a map of every name).
func (g *Graph) ValidateBuilt() error { return g.validate(false) }

func (g *Graph) validate(names bool) error {
	var errs ErrorList
	var seen map[string]bool
	if names {
		seen = make(map[string]bool, len(g.Nodes))
	}
	var deps []NodeID // of one node at a time
	// While every node depends only on nodes before it, as a flow body
	// builds them, there can be no cycle, and no search for one is needed.
	topological := true
	for i, n := range g.Nodes {
		if n.ID != NodeID(i) {
			errs.Add(n.Pos, "node %q has id %d at index %d", n.Name, n.ID, i)
		}
		if names {
			if seen[n.Name] {
				errs.Add(n.Pos, "duplicate task run name %q", n.Name)
			}
			seen[n.Name] = true
		}
		deps = appendDeps(deps[:0], n)
		g.validateEdges(n, deps, &errs)
		for _, d := range deps {
			topological = topological && int(d) < i
		}
	}
	if len(errs) == 0 && !topological {
		all := make([][]NodeID, len(g.Nodes))
		for i, n := range g.Nodes {
			all[i] = g.Deps(n)
		}
		g.findCycle(all, &errs)
	}
	errs.Sort()
	return errs.Err()
}

func (g *Graph) validateEdges(n *Node, deps []NodeID, errs *ErrorList) {
	mapped := false
	for _, d := range deps {
		if d < 0 || int(d) >= len(g.Nodes) {
			errs.Add(n.Pos, "task %q depends on unknown node %d", n.Name, d)
		}
	}
	for _, in := range n.Inputs {
		mapped = mapped || in.Map
	}
	if n.Mapped && !mapped {
		errs.Add(n.Pos, "mapped task %q has no mapped argument", n.Name)
	}
	if n.Body == nil {
		errs.Add(n.Pos, "task %q has no body", n.Name)
	}
	if (n.Kind == FlowNode) != (n.Sub != nil) {
		errs.Add(n.Pos, "node %q: a subflow node, and only one, has a child flow", n.Name)
	}
}

// findCycle reports one cycle, naming every node on it.
func (g *Graph) findCycle(deps [][]NodeID, errs *ErrorList) {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(g.Nodes))
	var stack []NodeID
	var visit func(id NodeID) bool
	visit = func(id NodeID) bool {
		color[id] = grey
		stack = append(stack, id)
		for _, d := range deps[id] {
			if color[d] == grey {
				errs.Add(g.Nodes[d].Pos, "cycle: %s", g.cycleNames(stack, d))
				return true
			}
			if color[d] == white && visit(d) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	for i := range g.Nodes {
		if color[i] == white && visit(NodeID(i)) {
			return
		}
	}
}

func (g *Graph) cycleNames(stack []NodeID, start NodeID) string {
	s := ""
	for i := len(stack) - 1; i >= 0; i-- {
		s += g.Nodes[stack[i]].Name + " -> "
		if stack[i] == start {
			break
		}
	}
	return s + g.Nodes[stack[len(stack)-1]].Name
}
