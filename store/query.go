package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	// ResumedFrom is the id of the run this one resumed, if any.
	ResumedFrom string `json:"resumed_from,omitempty"`
	// Parent is the id of the run whose subflow this child flow run is,
	// ParentTaskRun the subflow's task run there; "" for a top-level run.
	Parent        string `json:"parent_id,omitempty"`
	ParentTaskRun string `json:"parent_task_run,omitempty"`
	// SubflowOf is, for a server's run of a subflow (a child flow run
	// run in its parent's process), the top-level run it runs in; "" for
	// any other run.
	SubflowOf string `json:"subflow_of,omitempty"`
	// Scheduled is set for a run made by a schedule.
	Scheduled *Scheduled `json:"scheduled,omitempty"`
	// Server is set for a run a server holds (docs/server.md).
	Server *ServerRun `json:"server,omitempty"`
}

// ServerRun is what a server keeps of a run beyond what a local run has.
type ServerRun struct {
	Deployment string    `json:"deployment"`
	Pool       string    `json:"pool"`
	Bundle     string    `json:"bundle"`
	Worker     string    `json:"worker,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	// Crashes is how many times the run crashed and was scheduled again.
	Crashes int `json:"crashes,omitempty"`
	// Holder is the id of the token of the worker holding the run.
	Holder string `json:"-"`
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
	// ResultNote says why a result is not stored, when there was one.
	ResultNote string `json:"result_note,omitempty"`
	// Kind is "task", "flow" (a subflow), "param" or "const" (a value
	// assembled inline).
	Kind string `json:"kind"`
}

// IsValueKind tells whether a task run's or a graph node's Kind is a
// parameter's or a constant's: a value, whose runs "Task runs: ..."
// does not count as tasks'.
func IsValueKind(kind string) bool { return kind == "param" || kind == "const" }

// RunFilter selects runs; zero fields select all.
type RunFilter struct {
	Flow  string
	State string // a state name, in any case
	Limit int
	// TopLevel leaves child flow runs (subflows) out.
	TopLevel bool
}

// ParseState reads a state name in any case ("failed" or "Failed"):
// every state, the server's (Scheduled, Cancelling) too.
func ParseState(s string) (runtime.State, error) {
	for st := range runtime.State(runtime.NumStates) {
		if strings.EqualFold(st.String(), s) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q", s)
}

const runColumns = `id, flow, file, file_sha256, parameters, context, state, message, started_at, finished_at, pid, resumed_from,
	scheduled_at, schedule_id, schedule_key, late, deployment_id, pool, bundle, worker_id, lease_until, created_at, crashes, holder,
	parent_id, parent_task, subflow_of`

// ListRuns returns the runs f selects, newest first.
func (s *Store) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	q := `SELECT ` + runColumns + ` FROM runs WHERE TRUE`
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
	if f.TopLevel {
		q += ` AND parent_id = ''`
	}
	q += ` ORDER BY started_at DESC, id`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return s.queryRuns(ctx, q, args...)
}

// ChildRuns returns the child flow runs of run parent (its subflows'),
// in the order they started.
func (s *Store) ChildRuns(ctx context.Context, parent string) ([]Run, error) {
	return s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE parent_id = ? ORDER BY started_at, id`, parent)
}

// GetRun returns the run whose id is id or starts with it; a prefix that
// several runs share is an error that lists them.
func (s *Store) GetRun(ctx context.Context, id string) (Run, error) {
	if id == "" {
		return Run{}, fmt.Errorf("%w: empty run id", ErrNotFound)
	}
	// The exact id first, by the primary key; then the ids it begins: a
	// range of the key (ids are ASCII, and both databases compare text
	// by bytes), never a scan of every run.
	runs, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id)
	if err != nil || len(runs) == 1 {
		if err != nil {
			return Run{}, err
		}
		return runs[0], nil
	}
	runs, err = s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE id >= ? AND id < ?
		ORDER BY started_at DESC LIMIT 6`, id, id+"\U0010FFFF")
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
	return queryRuns(ctx, s.db, q, args...)
}

// queryRuns reads the runs of q, which selects (or returns) runColumns.
func queryRuns(ctx context.Context, db querier, q string, args ...any) ([]Run, error) {
	rows, err := db.QueryContext(ctx, q, args...)
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
		var resumed, sid, key sql.NullString
		var sat sql.NullInt64
		var late bool
		var dep, pool, bundle, worker sql.NullString
		var lease, created sql.NullInt64
		var crashes int
		var holder string
		if err := rows.Scan(&r.ID, &r.Flow, &r.File, &r.FileSHA256, &params, &ctxs, &state, &r.Message,
			&started, &finished, &r.PID, &resumed, &sat, &sid, &key, &late,
			&dep, &pool, &bundle, &worker, &lease, &created, &crashes, &holder, &r.Parent, &r.ParentTaskRun, &r.SubflowOf); err != nil {
			return nil, err
		}
		if dep.Valid {
			r.Server = &ServerRun{Deployment: dep.String, Pool: pool.String, Bundle: bundle.String, Worker: worker.String,
				LeaseUntil: nullTime(lease), CreatedAt: nullTime(created), Crashes: crashes, Holder: holder}
			if !key.Valid && sat.Valid {
				r.Scheduled = &Scheduled{At: unixNano(sat.Int64), Late: late}
			}
		}
		if key.Valid {
			r.Scheduled = &Scheduled{At: nullTime(sat), ScheduleID: sid.String, Key: key.String, Late: late}
		}
		r.ResumedFrom = resumed.String
		r.Parameters, r.Context = json.RawMessage(params), json.RawMessage(ctxs)
		if err := r.State.UnmarshalText([]byte(state)); err != nil {
			return nil, err
		}
		r.StartedAt, r.FinishedAt = unixNano(started), nullTime(finished)
		if started == 0 {
			r.StartedAt = time.Time{} // a server's run not yet started
		}
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
	rr, err := s.readRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	out := make([]TaskRun, len(rr.records))
	for i, r := range rr.records {
		out[i] = r.taskRun()
	}
	sortTaskRuns(out)
	return out, nil
}

func (r *record) taskRun() TaskRun {
	t := TaskRun{Name: r.name, Task: r.task, MapIndex: r.index, State: r.state, Attempts: r.attempts,
		Message: r.msg, Result: r.result, ResultNote: r.note, Kind: r.kind}
	if r.started != 0 {
		t.StartedAt = unixNano(r.started)
	}
	if r.finished != 0 {
		t.FinishedAt = unixNano(r.finished)
	}
	if t.Kind == "" {
		t.Kind = "task"
	}
	return t
}

func firstTime(t TaskRun) time.Time {
	if t.StartedAt.IsZero() {
		return t.FinishedAt
	}
	return t.StartedAt
}

// querier is what both *sql.DB and *sql.Tx are for a query.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// readRun reads the records of a run's chunks.
func (s *Store) readRun(ctx context.Context, runID string) (*storedRun, error) {
	var started int64
	err := s.db.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, runID).Scan(&started)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w %q", ErrNotFound, runID)
	}
	if err != nil {
		return nil, err
	}
	return readRun(ctx, s.db, runID, started, nil)
}

// storedRun is what the chunks of a run hold, merged.
type storedRun struct {
	records []*record // in the order first written
	lastSeq uint64
	last    int64 // the latest time in its records, Unix ns
}

// readRun reads and merges the records of the chunks of a run that
// started at base (Unix ns); with logs, it then calls logs with each log
// entry, one chunk's entries in memory at a time.
func readRun(ctx context.Context, q querier, runID string, base int64, logs func(*runtime.Event) error) (*storedRun, error) {
	rr, err := readRecords(ctx, q, runID, base)
	if err != nil || logs == nil {
		return rr, err
	}
	return rr, eachLogEntry(ctx, q, runID, 0, 0, logs)
}

func readRecords(ctx context.Context, q querier, runID string, base int64) (*storedRun, error) {
	m := newMerger()
	if _, err := m.read(ctx, q, runID, base); err != nil {
		return nil, err
	}
	return &m.storedRun, nil
}

// merger merges the records of a run's chunks, chunk by chunk: read
// takes those after the last it read, so that a reader following a run
// reads each chunk once (RunTasks).
type merger struct {
	storedRun
	tasks   map[string]*record
	kids    map[childKey]*record
	changed []*record // the records read by the last read, new or merged
	after   int64     // the last chunk read (-1: none; a chunk may be 0)
}

type childKey struct {
	task  string
	index int
}

func newMerger() *merger {
	return &merger{tasks: map[string]*record{}, kids: map[childKey]*record{}, after: -1}
}

func (m *merger) add(r *record, k childKey, byKey bool) {
	var old *record
	if byKey {
		old = m.kids[k]
	} else {
		old = m.tasks[r.name]
	}
	m.last = max(m.last, r.started, r.finished)
	if old != nil {
		old.merge(r)
		m.changed = append(m.changed, old)
		return
	}
	if byKey {
		m.kids[k] = r
	} else {
		m.tasks[r.name] = r
	}
	m.records = append(m.records, r)
	m.changed = append(m.changed, r)
}

// read merges the chunks of run runID (started at base, Unix ns) after
// the last one it read; it returns how many it read.
func (m *merger) read(ctx context.Context, q querier, runID string, base int64) (int, error) {
	m.changed = m.changed[:0]
	rows, err := q.QueryContext(ctx, `SELECT seq, tasks, children FROM chunks WHERE run_id = ? AND seq > ? ORDER BY seq`, runID, m.after)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var seq int64
		var tj, cj string
		if err := rows.Scan(&seq, &tj, &cj); err != nil {
			return n, err
		}
		n++
		m.lastSeq, m.after = max(m.lastSeq, uint64(seq)), max(m.after, seq)
		if err := m.chunk(runID, seq, base, tj, cj); err != nil {
			return n, err
		}
	}
	return n, rows.Err()
}

func (m *merger) chunk(runID string, seq, base int64, tj, cj string) error {
	if !decodeTasksFast(tj, base, func(r *record) { m.add(r, childKey{}, false) }) {
		if err := m.tasksJSON(runID, seq, base, tj); err != nil {
			return err
		}
	}
	if err := decodeChildren(cj, base, func(r *record) { m.add(r, childKey{r.task, r.index}, true) }); err != nil {
		return fmt.Errorf("run %s, chunk %d: %w", runID, seq, err)
	}
	return nil
}

// tasksJSON reads a chunk's tasks column with encoding/json.
func (m *merger) tasksJSON(runID string, seq, base int64, tj string) error {
	var ts []json.RawMessage
	if err := json.Unmarshal([]byte(tj), &ts); err != nil {
		return fmt.Errorf("run %s, chunk %d: %w", runID, seq, err)
	}
	for _, raw := range ts {
		r, err := decodeRecord(raw, base)
		if err != nil {
			return fmt.Errorf("run %s, chunk %d: %w", runID, seq, err)
		}
		m.add(r, childKey{}, false)
	}
	return nil
}

// decodeChildren reads the children column of a chunk: {task: [records]}.
func decodeChildren(js string, base int64, add func(*record)) error {
	if js == "{}" {
		return nil
	}
	if ok, err := decodeChildrenFast(js, base, add); ok || err != nil {
		return err
	}
	return decodeChildrenJSON(js, base, add)
}

// decodeChildrenJSON reads a children column with encoding/json.
func decodeChildrenJSON(js string, base int64, add func(*record)) error {
	dec := json.NewDecoder(strings.NewReader(js))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		task, _ := tok.(string)
		var list []json.RawMessage
		if err := dec.Decode(&list); err != nil {
			return err
		}
		for _, raw := range list {
			r, err := decodeChild(task, raw, base)
			if err != nil {
				return err
			}
			add(r)
		}
	}
	return nil
}

// LogFilter selects log entries of a run.
type LogFilter struct {
	Task  string // only this task's runs (its own and its mapped children's), plus flow entries
	After uint64 // only entries with a larger Seq
}

// Logs returns a run's log entries in order: its task log lines, flow and
// task state changes (of runs that are not mapped children, and the
// failures and retries of those that are) and map expansions, as the
// events they were recorded from. The first start and the end of a task
// run are made again from its record, with their original sequence
// numbers and times. It holds the whole log in memory: EachLog does not.
func (s *Store) Logs(ctx context.Context, runID string, f LogFilter) ([]runtime.Event, error) {
	var out []runtime.Event
	err := s.EachLog(ctx, runID, f, func(e *runtime.Event) error {
		out = append(out, *e)
		return nil
	})
	return out, err
}

// events makes again the state changes a record stands for.
func (r *record) events(runID string) []runtime.Event {
	if r.index >= 0 || r.kind == "const" {
		return nil
	}
	var out []runtime.Event
	e := runtime.Event{RunID: runID, Kind: runtime.TaskState, Node: runtime.NoNode, TaskRun: r.name, MapIndex: -1}
	if r.startSeq != 0 {
		s := e
		s.Seq, s.Time, s.Attempt, s.State = r.startSeq, unixNano(r.started), 1, runtime.Running
		out = append(out, s)
	}
	if r.endSeq != 0 {
		e.Seq, e.Time, e.Attempt, e.State, e.Msg = r.endSeq, unixNano(r.finished), r.attempts, r.state, r.msg
		out = append(out, e)
	}
	return out
}

// IntegrityCheck runs SQLite's integrity check and reports what it finds.
// PostgreSQL has none to run: there it is an error.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if s.pg {
		return errors.New("integrity check: SQLite's only, not on PostgreSQL")
	}
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
