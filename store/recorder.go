package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// RunInfo is what is known of a run before it starts.
type RunInfo struct {
	ID, Flow, File, FileSHA256 string
	// Parameters and Context are JSON objects (nil: {}).
	Parameters, Context json.RawMessage
}

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	Run RunInfo
	// EncodeResult turns a task run's result into JSON, reporting false
	// for values that have no JSON form. Nil: results are not stored.
	EncodeResult func(runtime.Value) ([]byte, bool)
	// Graph, if set, names the node kinds: the state changes of const
	// nodes (values assembled inline) are kept out of the logs, as the log
	// printer keeps them to debug level.
	Graph *runtime.Graph
	// FlushEvery spaces the writes; 0: 100ms.
	FlushEvery time.Duration
}

// A Recorder writes one run's events to the store. Emit only queues an
// event in memory; a goroutine of its own writes what has queued, in one
// transaction, every FlushEvery (sooner when thousands queue) and at
// Close, so a run never waits on the disk.
type Recorder struct {
	s   *Store
	opt RecorderOptions
	q   *queue

	stop, done chan struct{}
	once       sync.Once
	mu         sync.Mutex
	err        error // the first write error
}

var _ runtime.Sink = (*Recorder)(nil)

// NewRecorder inserts the run, in state Running with this process's id,
// and starts recording.
func (s *Store) NewRecorder(opt RecorderOptions) (*Recorder, error) {
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = 100 * time.Millisecond
	}
	ri := opt.Run
	err := retryBusy(func() error {
		_, err := s.db.Exec(`INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, started_at, pid)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ri.ID, ri.Flow, ri.File, ri.FileSHA256, jsonObject(ri.Parameters), jsonObject(ri.Context),
			runtime.Running.String(), time.Now().UnixNano(), os.Getpid())
		return err
	})
	if err != nil {
		return nil, err
	}
	r := &Recorder{s: s, opt: opt, q: newQueue(),
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r, nil
}

func jsonObject(b json.RawMessage) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

// Emit queues e; it never blocks on the disk.
func (r *Recorder) Emit(e runtime.Event) {
	if r.opt.EncodeResult == nil {
		e.Result = nil // keep no value alive for nothing
	}
	r.q.push(e)
}

// Close writes what is left and returns the first error met writing.
func (r *Recorder) Close() error {
	r.once.Do(func() {
		close(r.stop)
		r.q.close()
	})
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Recorder) loop() {
	defer close(r.done)
	for {
		blocks, ok := r.q.take()
		if !ok {
			return
		}
		start := time.Now()
		err := retryBusy(func() error { return r.write(blocks) })
		r.q.recycle(blocks)
		if err != nil {
			r.mu.Lock()
			if r.err == nil {
				r.err = err
			}
			r.mu.Unlock()
		}
		// Let events gather, so each transaction carries many.
		if wait := r.opt.FlushEvery - time.Since(start); wait > 0 {
			r.sleep(wait)
		}
	}
}

// sleep waits d, or less if the recorder is closed or many events queue
// meanwhile.
func (r *Recorder) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.stop:
	case <-r.q.many:
	}
}

// write stores one batch of events in one transaction.
func (r *Recorder) write(blocks [][]runtime.Event) error {
	b := newBatch(r.opt.Run.ID, r.opt.EncodeResult, r.opt.Graph)
	for _, block := range blocks {
		for i := range block {
			b.add(&block[i])
		}
	}
	tx, err := r.s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := b.flush(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// batch is what one transaction writes: task runs merged by name, so a
// run that started and finished within one flush is written once.
type batch struct {
	runID  string
	encode func(runtime.Value) ([]byte, bool)
	tasks  map[string]*taskRow // runs that are not mapped children, by name
	order  []*taskRow
	maps   map[string]*chunk // mapped children, by task
	morder []*chunk
	logs   [][]any
	flow   *runtime.Event // the FlowFinished event, if any
	graph  *runtime.Graph
}

type taskRow struct {
	name, task        string
	mapIndex          int
	state             runtime.State
	attempts          int
	msg               string
	started, finished any // int64 or nil
	result            any // string or nil
	seq               uint64
}

func newBatch(runID string, enc func(runtime.Value) ([]byte, bool), g *runtime.Graph) *batch {
	return &batch{runID: runID, encode: enc, graph: g, tasks: map[string]*taskRow{}, maps: map[string]*chunk{}}
}

func (b *batch) add(e *runtime.Event) {
	switch e.Kind {
	case runtime.TaskState:
		b.task(e)
		if b.quiet(e) {
			return // in task_runs; their lines would swamp the logs
		}
	case runtime.FlowFinished:
		b.flow = e
	}
	b.logs = append(b.logs, []any{b.runID, int64(e.Seq), e.Time.UnixNano(), e.Kind.String(), e.TaskRun,
		e.MapIndex, e.Attempt, stateName(e), levelName(e), e.Msg, e.Children})
}

// quiet reports whether a state change is kept out of the logs: the
// routine ones of mapped children, and those of const nodes.
func (b *batch) quiet(e *runtime.Event) bool {
	if e.IsChild() {
		return e.State == runtime.Running || e.State == runtime.Success || e.State == runtime.Pending
	}
	return b.isConst(e.Node)
}

func (b *batch) isConst(id runtime.NodeID) bool {
	return b.graph != nil && id >= 0 && int(id) < len(b.graph.Nodes) && b.graph.Nodes[id].Kind == runtime.ConstNode
}

func stateName(e *runtime.Event) string {
	if e.Kind == runtime.TaskState || e.Kind == runtime.FlowFinished {
		return e.State.String()
	}
	return ""
}

func levelName(e *runtime.Event) string {
	if e.Kind == runtime.TaskLog {
		return e.Level.String()
	}
	return ""
}

func (b *batch) task(e *runtime.Event) {
	var t *taskRow
	if e.IsChild() {
		t = b.child(e)
	} else if t = b.tasks[e.TaskRun]; t == nil {
		t = &taskRow{name: e.TaskRun, task: taskName(e), mapIndex: e.MapIndex}
		b.tasks[e.TaskRun] = t
		b.order = append(b.order, t)
	}
	t.state, t.msg, t.seq = e.State, e.Msg, e.Seq
	t.attempts = max(t.attempts, e.Attempt)
	if e.State == runtime.Running && t.started == nil {
		t.started = e.Time.UnixNano()
	}
	if e.State.Finished() {
		t.finished = e.Time.UnixNano()
	}
	if e.Result != nil && b.encode != nil {
		if j, ok := b.encode(e.Result); ok {
			t.result = string(j)
		}
	}
}

func (b *batch) child(e *runtime.Event) *taskRow {
	task := taskName(e)
	c := b.maps[task]
	if c == nil {
		c = &chunk{task: task, rows: map[int]*taskRow{}}
		b.maps[task] = c
		b.morder = append(b.morder, c)
	}
	c.seq = e.Seq
	t := c.rows[e.MapIndex]
	if t == nil {
		t = &taskRow{name: e.TaskRun, task: task, mapIndex: e.MapIndex}
		c.rows[e.MapIndex] = t
		c.order = append(c.order, t)
	}
	return t
}

// A chunk is what one batch learnt of the mapped children of one task. A
// mapped task may have a hundred thousand children: they are written as
// one row per task and batch (table map_runs), not one row each, which
// would cost more than running them.
type chunk struct {
	task  string
	seq   uint64 // the last event's
	rows  map[int]*taskRow
	order []*taskRow
}

// appendChild appends a child as an element of a chunk: [index, state,
// attempts, message, started, finished, result], times in Unix
// nanoseconds or null. Written by hand: json.Marshal would cost more than
// the write.
func (t *taskRow) appendChild(b []byte) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(t.mapIndex), 10)
	b = append(b, ",\""...)
	b = append(b, t.state.String()...)
	b = append(b, "\","...)
	b = strconv.AppendInt(b, int64(t.attempts), 10)
	b = append(b, ',')
	b = appendJSONString(b, t.msg)
	b = appendNullInt(append(b, ','), t.started)
	b = appendNullInt(append(b, ','), t.finished)
	b = append(b, ',')
	if r, ok := t.result.(string); ok {
		b = append(b, r...)
	} else {
		b = append(b, "null"...)
	}
	return append(b, ']')
}

func appendNullInt(b []byte, v any) []byte {
	if n, ok := v.(int64); ok {
		return strconv.AppendInt(b, n, 10)
	}
	return append(b, "null"...)
}

func appendJSONString(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	j, _ := json.Marshal(s)
	return append(b, j...)
}

// taskName is the task a run belongs to: "sq" for "sq[3]".
func taskName(e *runtime.Event) string {
	if e.MapIndex >= 0 {
		if i := strings.LastIndexByte(e.TaskRun, '['); i > 0 {
			return e.TaskRun[:i]
		}
	}
	return e.TaskRun
}

const (
	taskInsert = `INSERT INTO task_runs (run_id, name, task, map_index, state, attempts, message, started_at, finished_at, result, seq) VALUES `
	taskUpsert = ` ON CONFLICT (run_id, name) DO UPDATE SET state = excluded.state, attempts = max(attempts, excluded.attempts),
		message = excluded.message, started_at = coalesce(started_at, excluded.started_at),
		finished_at = excluded.finished_at, result = coalesce(excluded.result, result), seq = excluded.seq
		WHERE excluded.seq > task_runs.seq`
	logInsert = `INSERT OR IGNORE INTO logs (run_id, seq, time, kind, task_run, map_index, attempt, state, level, msg, children) VALUES `
)

func (b *batch) flush(tx *sql.Tx) error {
	rows := make([][]any, len(b.order))
	for i, t := range b.order {
		rows[i] = []any{b.runID, t.name, t.task, t.mapIndex, t.state.String(), t.attempts, t.msg,
			t.started, t.finished, t.result, int64(t.seq)}
	}
	if err := insertRows(tx, taskInsert, taskUpsert, 11, rows); err != nil {
		return err
	}
	for _, c := range b.morder {
		j := make([]byte, 0, 64*len(c.order))
		j = append(j, '[')
		for i, t := range c.order {
			if i > 0 {
				j = append(j, ',')
			}
			j = t.appendChild(j)
		}
		j = append(j, ']')
		if _, err := tx.Exec(`INSERT OR REPLACE INTO map_runs (run_id, task, seq, children) VALUES (?, ?, ?, ?)`,
			b.runID, c.task, int64(c.seq), string(j)); err != nil {
			return err
		}
	}
	if err := insertRows(tx, logInsert, "", 11, b.logs); err != nil {
		return err
	}
	if e := b.flow; e != nil {
		_, err := tx.Exec(`UPDATE runs SET state = ?, message = ?, finished_at = ? WHERE id = ?`,
			e.State.String(), e.Msg, e.Time.UnixNano(), b.runID)
		return err
	}
	return nil
}

// rowsPerInsert is how many rows one INSERT carries.
const rowsPerInsert = 64

// insertRows inserts rows of ncols values each, rowsPerInsert rows per statement.
func insertRows(tx *sql.Tx, prefix, suffix string, ncols int, rows [][]any) error {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		args := make([]any, 0, n*ncols)
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		var err error
		if n == rowsPerInsert {
			if full == nil {
				if full, err = tx.Prepare(insertSQL(prefix, suffix, ncols, n)); err != nil {
					return err
				}
			}
			_, err = full.Exec(args...)
		} else {
			_, err = tx.Exec(insertSQL(prefix, suffix, ncols, n), args...)
		}
		if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func insertSQL(prefix, suffix string, ncols, nrows int) string {
	row := "(" + strings.Repeat("?, ", ncols-1) + "?)"
	var sb strings.Builder
	sb.WriteString(prefix)
	for i := 0; i < nrows; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(row)
	}
	sb.WriteString(suffix)
	return sb.String()
}
