// Package runtime turns a Graph of task nodes into a run: it schedules ready
// nodes on a bounded worker pool, applies triggers, retries, timeouts, mapping
// and branching, and reports everything it does as a stream of immutable
// Events. It knows nothing of Starlark, plugins, terminals or storage: task
// bodies and values are opaque to it, and every consumer of a run (log
// printer, JSON printer, run store, TUI) is a Sink.
package runtime

import (
	"fmt"
)

// State is the state of a task run or of a flow run. States are persisted and
// printed by name, never by number.
type State uint8

// The states of docs/language.md ("States and triggers"), plus Crashed
// for runs whose process died, Waiting for a task run's attempt waiting
// for a slot of a concurrency limit, and the two states only a flow run on a
// server has (docs/server.md): Scheduled (made, not yet claimed by a
// worker) and Cancelling (asked to stop, its worker not yet done).
const (
	Pending State = iota
	Running
	Success
	Failed
	TriggerFailed
	Skipped
	Mapped
	Retrying
	Cached
	TimedOut
	Cancelled
	Crashed
	Waiting
	Scheduled
	Cancelling
)

var stateNames = [...]string{
	Pending:       "Pending",
	Running:       "Running",
	Success:       "Success",
	Failed:        "Failed",
	TriggerFailed: "TriggerFailed",
	Skipped:       "Skipped",
	Mapped:        "Mapped",
	Retrying:      "Retrying",
	Cached:        "Cached",
	TimedOut:      "TimedOut",
	Cancelled:     "Cancelled",
	Crashed:       "Crashed",
	Waiting:       "Waiting",
	Scheduled:     "Scheduled",
	Cancelling:    "Cancelling",
}

// NumStates is the number of states: arrays indexed by State have it.
const NumStates = len(stateNames)

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ParseState is the inverse of String.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return Pending, fmt.Errorf("unknown state %q", name)
}

// MarshalText encodes a state by name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state by name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	*s = v
	return err
}

// Finished reports whether s is final.
func (s State) Finished() bool {
	return s != Pending && s != Running && s != Retrying && s != Waiting && s != Scheduled && s != Cancelling
}

// Successful reports whether s counts as success: as in Prefect, Skipped,
// Cached and Mapped do.
func (s State) Successful() bool {
	return s == Success || s == Skipped || s == Cached || s == Mapped
}

// IsFailed reports whether s counts as failure: TriggerFailed, TimedOut,
// Cancelled and Crashed do.
func (s State) IsFailed() bool {
	return s == Failed || s == TriggerFailed || s == TimedOut || s == Cancelled || s == Crashed
}
