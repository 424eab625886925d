package runtime

import "time"

// Snapshot is a run as its events tell it: the flow's state, each node's
// run and its mapped children, and how many task runs are in each state.
// Apply folds one event into it; it is the one reducer of events: the log
// printer, the store's writer and the live view keep what they derive
// from events in one, and the server and `wfsh serve` rebuild runs with
// it. A node costs one slot and a mapped child one element of its node's
// slice, allocated once when the node maps: no map, no allocation per
// event, so a run of 100,000 children stays cheap.
type Snapshot struct {
	RunID   string
	Flow    string
	State   State // Pending, Running, then the flow's final state
	Msg     string
	Started time.Time
	Ended   time.Time
	// Nodes are by NodeID; a node's Seen is set at its first event.
	Nodes []NodeSnapshot
	// ByState counts the task runs of task nodes (their own runs and
	// their mapped children; not parameters or constants) by state, those
	// listed and not yet begun as Pending; Total is their number. A node
	// is listed by List, or else at its first event; children when it
	// maps.
	ByState [numStates]int
	Total   int

	// msgs hold the runs' messages (RunSnapshot.msg indexes them from
	// 1): a run holds no pointer, so the garbage collector need not scan
	// a hundred thousand children.
	msgs []string

	// named are the nodes of task events that name none (read back from
	// a store, which keeps run names only), by run name: such a node
	// takes the next slot. Events of the executor never look here.
	named map[string]NodeID
}

const numStates = int(Waiting) + 1

// NodeSnapshot is one node: its own run and, if mapped, its children's.
type NodeSnapshot struct {
	Seen   bool
	listed bool     // counted in ByState
	Kind   NodeKind // from the graph given to List; TaskNode without one
	Name   string   // the node's run name
	Run    RunSnapshot
	// Children are by map index: as many as Expected from MapExpanded
	// (more if events of children beyond it come).
	Children []RunSnapshot
	// Expected is the number of children once known (MapExpanded);
	// Finished and Failed count the children that have ended, and those
	// of them that did not succeed.
	Expected, Finished, Failed int
}

// RunSnapshot is one task run: a node's own, or a mapped child. It is 32
// bytes and holds no pointer: a hundred thousand children cost 3.2 MB,
// which the garbage collector does not scan. Its message is
// Snapshot.Msg's.
type RunSnapshot struct {
	Started int64 // Unix nanoseconds of its first Running; 0: not yet
	Ended   int64 // Unix nanoseconds of its final state; 0: not final
	Attempt int32 // the last attempt an event named (events of none leave it)
	Logs    int32 // log lines
	msg     int32 // the message of the last state change: msgs[msg-1]; 0: none
	State   State
}

// RunMsg is the message of r's last state change.
func (s *Snapshot) RunMsg(r *RunSnapshot) string {
	if r.msg == 0 {
		return ""
	}
	return s.msgs[r.msg-1]
}

// setMsg keeps m as r's message, reusing r's slot of msgs.
func (s *Snapshot) setMsg(r *RunSnapshot, m string) {
	switch {
	case m == "":
		if r.msg != 0 {
			s.msgs[r.msg-1] = ""
		}
	case r.msg != 0:
		s.msgs[r.msg-1] = m
	default:
		s.msgs = append(s.msgs, m)
		r.msg = int32(len(s.msgs))
	}
}

// List lists g's nodes before the run's first event: each with its kind
// and name, its run Pending (and counted so in ByState if a task).
func (s *Snapshot) List(g *Graph) {
	s.grow(len(g.Nodes))
	for _, nd := range g.Nodes {
		n := &s.Nodes[nd.ID]
		if !n.listed {
			n.Kind, n.Name = nd.Kind, nd.Name
			s.list(n)
		}
	}
}

func (s *Snapshot) list(n *NodeSnapshot) {
	n.listed = true
	if n.Kind.IsTask() {
		s.ByState[n.Run.State]++
		s.Total++
	}
}

// grow makes room for nodes nodes. Events name the nodes about one more
// at a time: the room doubles, where append's growth (a quarter, for a
// long slice) would allocate about five times the final size on the way
// (4.4 MB for W3's 10,000 nodes, against 1 MB).
func (s *Snapshot) grow(nodes int) {
	old := len(s.Nodes)
	if nodes <= old {
		return
	}
	if nodes > cap(s.Nodes) {
		grown := make([]NodeSnapshot, old, max(nodes, 2*cap(s.Nodes)))
		copy(grown, s.Nodes)
		s.Nodes = grown
	}
	s.Nodes = s.Nodes[:nodes]
	clear(s.Nodes[old:])
}

// Apply folds e into s. Events must come in Seq order, as a Sink fed by
// one executor gets them; those of child flow runs are left out.
func (s *Snapshot) Apply(e Event) { s.ApplyEvent(&e) }

// ApplyEvent is Apply without copying the event.
func (s *Snapshot) ApplyEvent(e *Event) {
	if e.Parent != "" {
		return // a child flow run's: its subflow node stands for it
	}
	switch e.Kind {
	case FlowStarted:
		s.RunID, s.Flow, s.State, s.Started = e.RunID, e.Msg, Running, e.Time
	case FlowFinished:
		s.State, s.Msg, s.Ended = e.State, e.Msg, e.Time
	case TaskState:
		n, r := s.run(e)
		if n == nil {
			return
		}
		was := r.State
		s.enter(n, r, e.State, e.Time)
		s.setMsg(r, e.Msg)
		if e.Attempt > 0 {
			r.Attempt = int32(e.Attempt)
		}
		if e.State.Finished() {
			r.Ended = e.Time.UnixNano()
			if e.MapIndex >= 0 && !was.Finished() {
				n.Finished++
				if !e.State.Successful() {
					n.Failed++
				}
			}
		}
	case TaskLog:
		if _, r := s.run(e); r != nil {
			r.Logs++
		}
	case MapExpanded:
		s.mapExpanded(e)
	}
}

// enter moves r to state st at t, keeping the counts by state.
func (s *Snapshot) enter(n *NodeSnapshot, r *RunSnapshot, st State, t time.Time) {
	if n.Kind.IsTask() {
		s.ByState[r.State]--
		s.ByState[st]++
	}
	r.State = st
	if st == Running && r.Started == 0 {
		r.Started = t.UnixNano()
	}
}

// mapExpanded lists a mapped node's children, Pending. The executor sends
// no Running for a mapped node's own run: it is Running from here until
// its final state, which is what happens.
func (s *Snapshot) mapExpanded(e *Event) {
	n, _ := s.run(e)
	if n == nil {
		return
	}
	n.Expected = e.Children
	if e.Children > len(n.Children) {
		s.children(n, e.Children)
	}
	if !n.Run.State.Finished() && e.Children > 0 {
		s.enter(n, &n.Run, Running, e.Time)
	}
}

// children makes n's children k, the new ones Pending: one allocation
// when the node maps (append's growth for children that come without).
func (s *Snapshot) children(n *NodeSnapshot, k int) {
	add := k - len(n.Children)
	n.Children = append(n.Children, make([]RunSnapshot, add)...)
	if n.Kind.IsTask() {
		s.ByState[Pending] += add
		s.Total += add
	}
}

// NodeOf is the node that e's task run is kept under: e.Node, or for an
// event that names none its run name's; false for a flow event.
func (s *Snapshot) NodeOf(e *Event) (NodeID, bool) {
	if e.Node >= 0 {
		return e.Node, true
	}
	if e.TaskRun == "" || e.Kind == FlowStarted || e.Kind == FlowFinished {
		return NoNode, false
	}
	name := e.NodeRun()
	id, ok := s.named[name]
	if !ok {
		if s.named == nil {
			s.named = map[string]NodeID{}
		}
		id = NodeID(len(s.Nodes))
		s.named[name] = id
	}
	return id, true
}

// run is e's node and task run, listed at their first event; nil for a
// flow event.
func (s *Snapshot) run(e *Event) (*NodeSnapshot, *RunSnapshot) {
	id, ok := s.NodeOf(e)
	if !ok {
		return nil, nil
	}
	s.grow(int(id) + 1)
	n := &s.Nodes[id]
	if !n.Seen {
		n.Seen = true
		if !n.listed {
			n.Name = e.NodeRun()
			s.list(n)
		}
	}
	if e.MapIndex < 0 {
		return n, &n.Run
	}
	if e.MapIndex >= len(n.Children) {
		s.children(n, e.MapIndex+1) // events without their MapExpanded
	}
	return n, &n.Children[e.MapIndex]
}

// Counts are how many nodes' own runs ended in each state, counting the
// nodes that kind accepts (nil: all).
func (s *Snapshot) Counts(kind func(NodeID) bool) map[State]int {
	c := map[State]int{}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Seen && n.Run.State.Finished() && (kind == nil || kind(NodeID(i))) {
			c[n.Run.State]++
		}
	}
	return c
}
