package runtime

import "time"

// Snapshot is a run as its events tell it: the flow's state, each node's
// run and its mapped children. Apply folds one event into it; it is the
// one reducer of events (the log printer keeps its counts in one; the
// server and `wfsh serve` rebuild runs with it). A node costs one slot and
// a mapped child one element of its node's slice: no map, no allocation
// per event, so a run of 100,000 children stays cheap.
type Snapshot struct {
	RunID   string
	Flow    string
	State   State // Pending, Running, then the flow's final state
	Msg     string
	Started time.Time
	Ended   time.Time
	// Nodes are by NodeID; a node's Seen is set at its first event.
	Nodes []NodeSnapshot
}

// NodeSnapshot is one node: its own run and, if mapped, its children's.
type NodeSnapshot struct {
	Seen     bool
	Name     string // the node's run name
	Run      RunSnapshot
	Children []RunSnapshot // by map index
	// Expected is the number of children once known (MapExpanded);
	// Finished and Failed count the children that have ended, and those
	// of them that did not succeed.
	Expected, Finished, Failed int
}

// RunSnapshot is one task run: a node's own, or a mapped child.
type RunSnapshot struct {
	State   State
	Attempt int
	Msg     string // the message of the last state change
	Started time.Time
	Ended   time.Time // zero until the run is final
	Logs    int       // log lines
}

// Apply folds e into s. Events must come in Seq order, as a Sink fed by
// one executor gets them.
func (s *Snapshot) Apply(e Event) {
	switch e.Kind {
	case FlowStarted:
		s.RunID, s.Flow, s.State, s.Started = e.RunID, e.Msg, Running, e.Time
	case FlowFinished:
		s.State, s.Msg, s.Ended = e.State, e.Msg, e.Time
	case TaskState:
		n, r := s.run(&e)
		if n == nil {
			return
		}
		was := r.State
		if r.Started.IsZero() && e.State == Running {
			r.Started = e.Time
		}
		r.State, r.Attempt, r.Msg = e.State, e.Attempt, e.Msg
		if e.State.Finished() {
			r.Ended = e.Time
			if e.MapIndex >= 0 && !was.Finished() {
				n.Finished++
				if !e.State.Successful() {
					n.Failed++
				}
			}
		}
	case TaskLog:
		if _, r := s.run(&e); r != nil {
			r.Logs++
		}
	case MapExpanded:
		if n, _ := s.run(&e); n != nil {
			n.Expected = e.Children
			if cap(n.Children) < e.Children {
				n.Children = append(make([]RunSnapshot, 0, e.Children), n.Children...)
			}
		}
	}
}

// run is e's node and task run, listed at their first event; nil for an
// event of no node.
func (s *Snapshot) run(e *Event) (*NodeSnapshot, *RunSnapshot) {
	if e.Node < 0 {
		return nil, nil
	}
	if int(e.Node) >= len(s.Nodes) {
		s.Nodes = append(s.Nodes, make([]NodeSnapshot, int(e.Node)+1-len(s.Nodes))...)
	}
	n := &s.Nodes[e.Node]
	if !n.Seen {
		n.Seen, n.Name = true, e.NodeRun()
	}
	if e.MapIndex < 0 {
		return n, &n.Run
	}
	if e.MapIndex >= len(n.Children) {
		n.Children = append(n.Children, make([]RunSnapshot, e.MapIndex+1-len(n.Children))...)
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
