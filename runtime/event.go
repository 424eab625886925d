package runtime

import (
	"errors"
	"strings"
	"time"
)

// Kind says what an Event reports.
type Kind uint8

const (
	FlowStarted  Kind = iota // Msg: flow name; the run begins
	FlowFinished             // State: the flow's final state; Msg: why
	TaskState                // a task run entered State
	TaskLog                  // a line of a task run's log (or the flow's, with no task)
	MapExpanded              // a mapped task run got Children children
)

var kindNames = [...]string{"flow_started", "flow_finished", "task_state", "task_log", "map_expanded"}

func (k Kind) String() string { return kindNames[k] }

// MarshalText encodes a kind by name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind by name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return errors.New("unknown event kind " + string(b))
}

// Level is a log line's severity.
type Level uint8

const (
	Debug Level = iota
	Info
	Warning
	Error
)

var levelNames = [...]string{"DEBUG", "INFO", "WARNING", "ERROR"}

func (l Level) String() string { return levelNames[l] }

// MarshalText encodes a level by name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText decodes a level by name.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	*l = v
	return err
}

// ParseLevel reads a level name, in any case.
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if equalFold(n, s) {
			return Level(i), nil
		}
	}
	return Info, errors.New("unknown log level " + s + " (want debug, info, warning or error)")
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// NoNode is the Node of events that concern the whole flow run.
const NoNode NodeID = -1

// Event is one immutable fact about a run. Events of a run are totally
// ordered by Seq.
type Event struct {
	Seq   uint64
	Time  time.Time
	RunID string
	Kind  Kind
	// Parent is the run id of the flow run whose subflow node this run
	// is, and ParentTaskRun that node's run name ("report", "report[2]"
	// for a mapped one); both empty for a top-level run.
	Parent        string
	ParentTaskRun string
	// Flow is the flow's name on the events of a child flow run (those
	// of a top-level run leave it empty: their consumers know it).
	Flow string

	Node     NodeID // NoNode for flow events
	NodeName string // the node's run name: TaskRun without a child's "[i]"
	TaskRun  string // run name; mapped children are "name[i]"
	MapIndex int    // -1 unless a mapped child
	Attempt  int

	State    State
	Level    Level
	Msg      string
	Result   Value // the run's result, on a final successful TaskState
	Children int   // MapExpanded: the number of children
}

// NodeRun is the run name of the event's node: NodeName, or for an event
// without it (made by hand, or read back from a store) TaskRun without a
// child's "[i]".
func (e *Event) NodeRun() string {
	switch {
	case e.NodeName != "":
		return e.NodeName
	case e.MapIndex < 0:
		return e.TaskRun
	}
	if i := strings.LastIndexByte(e.TaskRun, '['); i > 0 {
		return e.TaskRun[:i]
	}
	return e.TaskRun
}

// IsChild reports whether the event concerns a mapped child run.
func (e *Event) IsChild() bool { return e.MapIndex >= 0 }

// Sink consumes events. Emit may be called from several goroutines; the
// executor serialises its own calls, so a Sink fed only by one executor sees
// events in Seq order.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f.
func (f SinkFunc) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = SinkFunc(func(Event) {})

// Tee fans each event out to every sink, in order.
func Tee(sinks ...Sink) Sink {
	var out []Sink
	for _, s := range sinks {
		if s != nil {
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return Discard
	case 1:
		return out[0]
	}
	return tee(out)
}

type tee []Sink

func (t tee) Emit(e Event) {
	for _, s := range t {
		s.Emit(e)
	}
}
