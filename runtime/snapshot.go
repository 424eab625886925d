package runtime

import "time"

// Snapshot is a run as its events tell it: the flow's state and each task
// run's. Apply folds one event into it; the live view, the store, a
// printer's summary and the server rebuild the same state this one way.
type Snapshot struct {
	RunID   string
	Flow    string
	State   State // Pending, Running, then the flow's final state
	Msg     string
	Started time.Time
	Ended   time.Time
	// Runs are the task runs by run name ("square", "square[3]").
	Runs map[string]*RunSnapshot
	// Order lists the run names in the order of their first event.
	Order []string
}

// RunSnapshot is one task run: a node's run, or a mapped child.
type RunSnapshot struct {
	Node     NodeID
	NodeName string // the node's run name ("square" for "square[3]")
	MapIndex int    // -1 unless a mapped child
	State    State
	Attempt  int
	Msg      string // the message of the last state change
	Started  time.Time
	Ended    time.Time // zero until the run is final
	Children int       // a mapped run's children, once known
	Logs     int       // log lines
}

// Final reports whether the task run has ended.
func (r *RunSnapshot) Final() bool { return r.State.Finished() }

// NewSnapshot returns the snapshot of a run that has not started.
func NewSnapshot() *Snapshot { return &Snapshot{Runs: map[string]*RunSnapshot{}} }

// Apply folds e into s. Events must come in Seq order, as a Sink fed by
// one executor gets them.
func (s *Snapshot) Apply(e Event) {
	if s.Runs == nil {
		s.Runs = map[string]*RunSnapshot{}
	}
	switch e.Kind {
	case FlowStarted:
		s.RunID, s.Flow, s.State, s.Started = e.RunID, e.Msg, Running, e.Time
	case FlowFinished:
		s.State, s.Msg, s.Ended = e.State, e.Msg, e.Time
	case TaskState:
		r := s.run(e)
		if r.Started.IsZero() && e.State == Running {
			r.Started = e.Time
		}
		r.State, r.Attempt, r.Msg = e.State, e.Attempt, e.Msg
		if e.State.Finished() {
			r.Ended = e.Time
		}
	case TaskLog:
		if e.Node != NoNode {
			s.run(e).Logs++
		}
	case MapExpanded:
		s.run(e).Children = e.Children
	}
}

// run is e's task run, added at its first event.
func (s *Snapshot) run(e Event) *RunSnapshot {
	r := s.Runs[e.TaskRun]
	if r == nil {
		name := e.NodeName
		if name == "" {
			name = e.TaskRun
		}
		r = &RunSnapshot{Node: e.Node, NodeName: name, MapIndex: e.MapIndex}
		s.Runs[e.TaskRun] = r
		s.Order = append(s.Order, e.TaskRun)
	}
	return r
}

// Counts are how many task runs are in each state (mapped children
// included, the mapped runs themselves not).
func (s *Snapshot) Counts() map[State]int {
	c := map[State]int{}
	for _, r := range s.Runs {
		if r.Children > 0 && r.MapIndex < 0 {
			continue
		}
		c[r.State]++
	}
	return c
}
