package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// Run is a recorded flow run.
type Run struct {
	ID         string          `json:"id"`
	Flow       string          `json:"flow"`
	File       string          `json:"file"`
	FileSHA256 string          `json:"file_sha256"`
	Parameters json.RawMessage `json:"parameters"`
	Context    json.RawMessage `json:"context"`
	State      runtime.State   `json:"state"`
	Message    string          `json:"message,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	PID        int             `json:"pid"`
}

// Duration is how long the run took, or has taken so far.
func (r *Run) Duration(now time.Time) time.Duration {
	if r.FinishedAt.IsZero() {
		return now.Sub(r.StartedAt)
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// TaskRun is a recorded task run.
type TaskRun struct {
	Name       string          `json:"name"`
	Task       string          `json:"task"`
	MapIndex   int             `json:"map_index"`
	State      runtime.State   `json:"state"`
	Attempts   int             `json:"attempts"`
	Message    string          `json:"message,omitempty"`
	StartedAt  time.Time       `json:"started_at,omitzero"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// RunFilter selects runs; zero fields select all.
type RunFilter struct {
	Flow  string
	State string // a state name, in any case
	Limit int
}

// ParseState reads a state name in any case ("failed" or "Failed").
func ParseState(s string) (runtime.State, error) {
	for st := runtime.Pending; st <= runtime.Crashed; st++ {
		if strings.EqualFold(st.String(), s) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q", s)
}

const runColumns = `id, flow, file, file_sha256, parameters, context, state, message, started_at, finished_at, pid`

// ListRuns returns the runs f selects, newest first.
func (s *Store) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	q := `SELECT ` + runColumns + ` FROM runs WHERE 1`
	var args []any
	if f.Flow != "" {
		q += ` AND flow = ?`
		args = append(args, f.Flow)
	}
	if f.State != "" {
		st, err := ParseState(f.State)
		if err != nil {
			return nil, err
		}
		q += ` AND state = ?`
		args = append(args, st.String())
	}
	q += ` ORDER BY started_at DESC, id`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return s.queryRuns(ctx, q, args...)
}

// GetRun returns the run whose id is id or starts with it; a prefix that
// several runs share is an error that lists them.
func (s *Store) GetRun(ctx context.Context, id string) (Run, error) {
	if id == "" {
		return Run{}, fmt.Errorf("%w: empty run id", ErrNotFound)
	}
	runs, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ? OR substr(id, 1, ?) = ?
		ORDER BY id = ? DESC, started_at DESC LIMIT 6`, id, len(id), id, id)
	if err != nil {
		return Run{}, err
	}
	switch {
	case len(runs) == 0:
		return Run{}, fmt.Errorf("%w %q", ErrNotFound, id)
	case runs[0].ID == id || len(runs) == 1:
		return runs[0], nil
	}
	ids := make([]string, 0, len(runs))
	for _, r := range runs[:min(len(runs), 5)] {
		ids = append(ids, r.ID)
	}
	more := ""
	if len(runs) > 5 {
		more = ", ..."
	}
	return Run{}, fmt.Errorf("run id %q is ambiguous: it starts %s%s", id, strings.Join(ids, ", "), more)
}

func (s *Store) queryRuns(ctx context.Context, q string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		var r Run
		var params, ctxs, state string
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Flow, &r.File, &r.FileSHA256, &params, &ctxs, &state, &r.Message,
			&started, &finished, &r.PID); err != nil {
			return nil, err
		}
		r.Parameters, r.Context = json.RawMessage(params), json.RawMessage(ctxs)
		if err := r.State.UnmarshalText([]byte(state)); err != nil {
			return nil, err
		}
		r.StartedAt, r.FinishedAt = unixNano(started), nullTime(finished)
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

func unixNano(n int64) time.Time { return time.Unix(0, n) }

func nullTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return unixNano(n.Int64)
}

// TaskRuns returns the task runs of a run, mapped children included, in
// the order they started (or ended, for runs that never started), the
// children of a task together in the order of their index.
func (s *Store) TaskRuns(ctx context.Context, runID string) ([]TaskRun, error) {
	out, err := s.taskRuns(ctx, runID)
	if err != nil {
		return nil, err
	}
	kids, _, err := children(ctx, s.db, runID)
	if err != nil {
		return nil, err
	}
	for _, c := range kids {
		out = append(out, *c)
	}
	// Mapped children stay together, by index, where the first started.
	first := map[string]time.Time{}
	for _, t := range out {
		if f, ok := first[t.Task]; t.MapIndex >= 0 && (!ok || firstTime(t).Before(f)) {
			first[t.Task] = firstTime(t)
		}
	}
	at := func(t TaskRun) time.Time {
		if t.MapIndex >= 0 {
			return first[t.Task]
		}
		return firstTime(t)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ta, tb := at(a), at(b); !ta.Equal(tb) {
			return ta.Before(tb)
		}
		if a.Task != b.Task {
			return a.Task < b.Task
		}
		return a.MapIndex < b.MapIndex
	})
	return out, nil
}

func firstTime(t TaskRun) time.Time {
	if t.StartedAt.IsZero() {
		return t.FinishedAt
	}
	return t.StartedAt
}

func (s *Store) taskRuns(ctx context.Context, runID string) ([]TaskRun, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, task, map_index, state, attempts, message, started_at, finished_at, result
		FROM task_runs WHERE run_id = ?`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TaskRun
	for rows.Next() {
		var t TaskRun
		var state string
		var started, finished sql.NullInt64
		var result sql.NullString
		if err := rows.Scan(&t.Name, &t.Task, &t.MapIndex, &state, &t.Attempts, &t.Message, &started, &finished, &result); err != nil {
			return nil, err
		}
		if err := t.State.UnmarshalText([]byte(state)); err != nil {
			return nil, err
		}
		t.StartedAt, t.FinishedAt = nullTime(started), nullTime(finished)
		if result.Valid {
			t.Result = json.RawMessage(result.String)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// LogFilter selects log entries of a run.
type LogFilter struct {
	Task  string // only this task's runs (its own and its mapped children's), plus flow entries
	After uint64 // only entries with a larger Seq
}

// Logs returns a run's log entries in order: its task log lines, flow and
// task state changes (of runs that are not mapped children) and map
// expansions, as the events they were recorded from.
func (s *Store) Logs(ctx context.Context, runID string, f LogFilter) ([]runtime.Event, error) {
	q := `SELECT seq, time, kind, task_run, map_index, attempt, state, level, msg, children
		FROM logs WHERE run_id = ? AND seq > ?`
	args := []any{runID, int64(f.After)}
	if f.Task != "" {
		q += ` AND (task_run = '' OR task_run = ? OR substr(task_run, 1, ?) = ?)`
		args = append(args, f.Task, len(f.Task)+1, f.Task+"[")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		e.RunID = runID
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanEvent(rows *sql.Rows) (runtime.Event, error) {
	e := runtime.Event{Node: runtime.NoNode}
	var seq, t int64
	var kind, state, level string
	if err := rows.Scan(&seq, &t, &kind, &e.TaskRun, &e.MapIndex, &e.Attempt, &state, &level, &e.Msg, &e.Children); err != nil {
		return e, err
	}
	e.Seq, e.Time = uint64(seq), unixNano(t)
	k, err := parseKind(kind)
	if err != nil {
		return e, err
	}
	e.Kind = k
	if state != "" {
		if err := e.State.UnmarshalText([]byte(state)); err != nil {
			return e, err
		}
	}
	if level != "" {
		if e.Level, err = runtime.ParseLevel(level); err != nil {
			return e, err
		}
	}
	return e, nil
}

func parseKind(s string) (runtime.Kind, error) {
	for k := runtime.FlowStarted; k <= runtime.MapExpanded; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown event kind %q", s)
}

// IntegrityCheck runs SQLite's integrity check and reports what it finds.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return err
		}
		if p != "ok" {
			problems = append(problems, p)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}
