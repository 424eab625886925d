package output

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// JSONPrinter writes one JSON object per event, for tools.
type JSONPrinter struct {
	Out io.Writer
	// Flow names the run in every event.
	Flow string

	mu  sync.Mutex
	enc *json.Encoder
}

type jsonEvent struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	RunID string    `json:"run_id"`
	Flow  string    `json:"flow,omitempty"`
	// Parent and ParentTask name, for a child flow run's event, the run
	// and the subflow's task run it is the child of.
	Parent     string         `json:"parent_run_id,omitempty"`
	ParentTask string         `json:"parent_task,omitempty"`
	Kind       runtime.Kind   `json:"kind"`
	Task       string         `json:"task,omitempty"`
	MapIndex   *int           `json:"map_index,omitempty"`
	Attempt    int            `json:"attempt,omitempty"`
	State      *runtime.State `json:"state,omitempty"`
	Level      *runtime.Level `json:"level,omitempty"`
	Msg        string         `json:"msg,omitempty"`
	Children   *int           `json:"children,omitempty"`
}

// Emit writes e as one line of JSON.
func (p *JSONPrinter) Emit(e runtime.Event) {
	j := jsonEvent{Seq: e.Seq, Time: e.Time, RunID: e.RunID, Flow: p.Flow, Kind: e.Kind,
		Task: e.TaskRun, Attempt: e.Attempt, Msg: e.Msg, Parent: e.Parent, ParentTask: e.ParentTaskRun}
	if e.Flow != "" {
		j.Flow = e.Flow
	}
	if e.MapIndex >= 0 {
		j.MapIndex = &e.MapIndex
	}
	switch e.Kind {
	case runtime.TaskState, runtime.FlowFinished:
		j.State = &e.State
	case runtime.TaskLog:
		j.Level = &e.Level
	case runtime.MapExpanded:
		j.Children = &e.Children
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enc == nil {
		p.enc = json.NewEncoder(p.Out)
	}
	_ = p.enc.Encode(j)
}
