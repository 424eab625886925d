package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// RunTasks follows the task runs of one run: Refresh reads only the
// chunks written since it last read, so that a page of a run of 100,000
// task runs, asked for every second while it runs, costs what the run
// wrote since, not all it wrote. Chunks are never rewritten, and a run's
// writer (one worker at a time) writes them in the order of their
// sequence numbers. Safe for concurrent use.
type RunTasks struct {
	st *Store
	id string

	mu     sync.Mutex
	base   int64 // the run's started_at the records were read against
	m      *merger
	sorted []TaskRun // in TaskRuns' order
	index  map[string]int
	tasks  []TaskSummary
}

// TaskSummary is one task run of a run that is not a mapped child, with
// its mapped children, if any, summed up: a graph node, a timeline bar.
type TaskSummary struct {
	Name  string        `json:"name"`
	Task  string        `json:"task"`
	Kind  string        `json:"kind"`
	State runtime.State `json:"state"`
	// Runs counts its mapped children (0: not mapped); Done those final,
	// Failed those that failed or crashed.
	Runs   int `json:"runs,omitempty"`
	Done   int `json:"done,omitempty"`
	Failed int `json:"failed,omitempty"`
	// StartedAt is its first start (its own or a child's), FinishedAt
	// its last end once it and its children are final.
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// NewRunTasks follows run id's task runs; nothing is read until Refresh.
func (s *Store) NewRunTasks(id string) *RunTasks {
	return &RunTasks{st: s, id: id, m: newMerger()}
}

// Refresh reads what the run wrote since the last Refresh.
func (t *RunTasks) Refresh(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var base int64
	err := t.st.db.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, t.id).Scan(&base)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w %q", ErrNotFound, t.id)
	}
	if err != nil {
		return err
	}
	if base != t.base { // started since: records' times are relative to it
		t.base, t.m, t.sorted = base, newMerger(), nil
	}
	n, err := t.m.read(ctx, t.st.db, t.id, base)
	if err != nil {
		t.m, t.sorted = newMerger(), nil // read again whole next time
		return err
	}
	if n > 0 || t.sorted == nil {
		t.rebuild()
	}
	return nil
}

// rebuild makes the ordered task runs and the summaries again from the
// merged records.
func (t *RunTasks) rebuild() {
	out := make([]TaskRun, len(t.m.records))
	for i, r := range t.m.records {
		out[i] = r.taskRun()
	}
	sortTaskRuns(out)
	t.sorted = out
	t.index = make(map[string]int, len(out))
	for i := range out {
		t.index[out[i].Name] = i
	}
	t.tasks = summarize(out)
}

// Snapshot is the task runs read so far, in TaskRuns' order, with the
// position of each by name and each task's summary: shared, not to be
// changed; a later Refresh makes new ones.
func (t *RunTasks) Snapshot() (runs []TaskRun, index map[string]int, tasks []TaskSummary) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sorted, t.index, t.tasks
}

// summarize sums up runs (in TaskRuns' order) by the task run that is
// not a mapped child, in the order each first appears there. A mapped
// child's Task is its parent's name.
func summarize(runs []TaskRun) []TaskSummary {
	var out []TaskSummary
	at, own := map[string]int{}, map[int]bool{}
	for _, r := range runs {
		key := r.Name
		if r.MapIndex >= 0 {
			key = r.Task
		}
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, TaskSummary{Name: key, Kind: "task", State: runtime.Pending})
		}
		s := &out[i]
		if r.MapIndex < 0 {
			s.Task, s.Kind, s.State, own[i] = r.Task, r.Kind, r.State, true
		} else {
			s.Runs++
			if r.State.Finished() {
				s.Done++
			}
			if r.State == runtime.Failed || r.State == runtime.Crashed {
				s.Failed++
			}
		}
		if st := firstTime(r); !st.IsZero() && (s.StartedAt.IsZero() || st.Before(s.StartedAt)) {
			s.StartedAt = st
		}
		if r.FinishedAt.After(s.FinishedAt) {
			s.FinishedAt = r.FinishedAt
		}
	}
	for i := range out {
		s := &out[i]
		if !own[i] { // children only, so far: their state
			s.State = childrenState(s)
		}
		if !s.State.Finished() || s.Done < s.Runs {
			s.FinishedAt = time.Time{}
		}
	}
	return out
}

// childrenState is the state of a mapped task whose own run is not
// recorded yet: Running until its children are final, then Failed if one
// failed, else Success.
func childrenState(s *TaskSummary) runtime.State {
	switch {
	case s.Done < s.Runs:
		return runtime.Running
	case s.Failed > 0:
		return runtime.Failed
	}
	return runtime.Success
}

// sortTaskRuns orders task runs as TaskRuns does: by the time they
// started, a task's mapped children together, by index, where the first
// started.
func sortTaskRuns(out []TaskRun) {
	first := map[string]time.Time{}
	for _, t := range out {
		if f, ok := first[t.Task]; t.MapIndex >= 0 && (!ok || firstTime(t).Before(f)) {
			first[t.Task] = firstTime(t)
		}
	}
	at := func(t *TaskRun) time.Time {
		if t.MapIndex >= 0 {
			return first[t.Task]
		}
		return firstTime(*t)
	}
	slices.SortStableFunc(out, func(a, b TaskRun) int {
		if c := at(&a).Compare(at(&b)); c != 0 {
			return c
		}
		if a.Task != b.Task {
			if a.Task < b.Task {
				return -1
			}
			return 1
		}
		return a.MapIndex - b.MapIndex
	})
}
