package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// RunInfo is what is known of a run before it starts.
type RunInfo struct {
	ID, Flow, File, FileSHA256 string
	// Parameters and Context are JSON objects (nil: {}).
	Parameters, Context json.RawMessage
	// ResumedFrom is the id of the run this one resumes, if any.
	ResumedFrom string
	// Parent is the run whose subflow node this child flow run ran for,
	// ParentTaskRun that node's task run; both "" for a top-level run.
	Parent, ParentTaskRun string
	// Scheduled says which scheduled time of which schedule the run is
	// for; zero for a run not made by a schedule.
	Scheduled Scheduled
	// Claimed: the run's row is already in, inserted by ClaimRun; the
	// first write completes it rather than inserting it.
	Claimed bool
}

// Scheduled is what a run made by a schedule records of it.
type Scheduled struct {
	// At is the scheduled time.
	At time.Time `json:"at"`
	// ScheduleID is the schedule's id (schedule.Schedule.ID).
	ScheduleID string `json:"schedule_id"`
	// Key is the run's unique key (schedule.Key): a second run with the
	// same key is refused with ErrKeyTaken.
	Key string `json:"key"`
	// Late: the run started more than its flow's late_after past At.
	Late bool `json:"late,omitempty"`
}

// IsZero reports whether the run was not made by a schedule.
func (s Scheduled) IsZero() bool { return s.Key == "" }

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	Run RunInfo
	// AppendResult appends a task run's result to b as JSON, or says why
	// it is not stored (no JSON form, too large, holds a secret). Nil:
	// results are not stored.
	AppendResult func(b []byte, v runtime.Value) ([]byte, error)
	// Graph, if set, is the run's graph: it names the node kinds (the
	// state changes of const nodes, values assembled inline, are kept
	// out of the logs, as the log printer keeps them to debug level) and
	// is stored with the run, for resume to compare.
	Graph *runtime.Graph
	// FlushEvery spaces the writes; 0: 100ms.
	FlushEvery time.Duration
	// LogLimit bounds the bytes of log lines stored for the run; past it
	// one line says the log was truncated. 0: DefaultLogLimit; negative:
	// no limit.
	LogLimit int64
	// Send, if set, takes each write instead of the store: the run is
	// recorded by a server (NewRemoteRecorder), whose store applies the
	// write (Store.ApplyWrite). A write that fails is retried by Send's
	// caller as it sees fit; its error ends the recording as a write
	// error does.
	Send func(context.Context, *Write) error
}

// Write is one transaction of a Recorder, as it goes to a server: the
// run's start with its first write, then a chunk of events.
type Write struct {
	Start *Start `json:"start,omitempty"`
	Chunk *Chunk `json:"chunk,omitempty"`
}

// Start is what the first write of a run adds to its row, which the
// server made: when it started and its graph (for resume to compare).
type Start struct {
	Time    time.Time `json:"time"`
	DAGHash string    `json:"dag_hash,omitempty"`
	DAG     string    `json:"dag,omitempty"`
}

// A Recorder writes one run's events to the store. Emit only queues an
// event in memory; a goroutine of its own writes what has queued, in one
// transaction, every FlushEvery (sooner when thousands queue) and at
// Close, so a run does not wait on the disk unless it emits faster than
// the store writes: then, with the queue full, Emit waits (queue.go). The
// first write inserts the run.
type Recorder struct {
	s   *Store
	opt RecorderOptions
	q   *queue

	stop, done chan struct{}
	once       sync.Once
	b          *batch // the writer goroutine's
	started    time.Time
	inserted   bool      // the run's row is in (writer goroutine only)
	kept       time.Time // the time of the last event written (writer goroutine only)

	mu    sync.Mutex
	err   error        // the first write error
	cache []CacheEntry // waiting for the next write
}

var _ runtime.Sink = (*Recorder)(nil)

// NewRecorder starts recording a run: its row is inserted, in state
// Running with this process's id, by the first write, FlushEvery later
// (or at Close).
func (s *Store) NewRecorder(opt RecorderOptions) *Recorder {
	return startRecorder(func() (*Store, error) { return s, nil }, opt)
}

// NewRecorder starts recording a run in the store being opened: events
// queue until it is open. If it cannot be opened, nothing is recorded
// and Close says why.
func (o *Opening) NewRecorder(opt RecorderOptions) *Recorder {
	return startRecorder(o.Wait, opt)
}

// NewRemoteRecorder records a run whose row a server made, through
// opt.Send. The cache entries it is given are not recorded: the cache
// stays with the store of the process that runs the flow.
func NewRemoteRecorder(opt RecorderOptions) *Recorder {
	return startRecorder(func() (*Store, error) { return nil, nil }, opt)
}

func startRecorder(open func() (*Store, error), opt RecorderOptions) *Recorder {
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = 100 * time.Millisecond
	}
	now := time.Now()
	r := &Recorder{opt: opt, q: newQueue(), started: now,
		b:    newBatch(opt.Run.ID, now.UnixNano(), opt.AppendResult, opt.Graph),
		stop: make(chan struct{}), done: make(chan struct{})}
	switch {
	case opt.LogLimit == 0:
		r.b.logLimit = DefaultLogLimit
	case opt.LogLimit > 0:
		r.b.logLimit = opt.LogLimit
	}
	go func() {
		s, err := open()
		if err != nil {
			r.fail(err)
		} else if s != nil {
			r.b.stmt = s.chunkStmt()
		}
		r.s = s
		// The first write waits as the others do: a short run is then
		// written in one transaction, at Close.
		if wait := r.opt.FlushEvery - time.Since(r.started); wait > 0 {
			r.sleep(wait)
		}
		r.loop()
	}()
	return r
}

func (r *Recorder) insertRun(tx *sql.Tx) error {
	ri := r.opt.Run
	var dag, resumed any
	if g := r.opt.Graph; g != nil {
		h := dagHash(g)
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM dags WHERE hash = ?`, h).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			// Another process may insert the same graph meanwhile (PostgreSQL
			// does not serialise writers as SQLite does).
			if _, err := tx.Exec(`INSERT INTO dags (hash, dag) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`, h, string(appendDAG(make([]byte, 0, 64*len(g.Nodes)), g))); err != nil {
				return err
			}
		}
		dag = h
	}
	if ri.ResumedFrom != "" {
		resumed = ri.ResumedFrom
	}
	if ri.Claimed {
		_, err := tx.Exec(`UPDATE runs SET dag = ?, started_at = ? WHERE id = ?`, dag, r.started.UnixNano(), ri.ID)
		return err
	}
	sa, sid, key := scheduledColumns(ri.Scheduled)
	_, err := tx.Exec(`INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, started_at, pid, dag, resumed_from,
			scheduled_at, schedule_id, schedule_key, late, parent_id, parent_task)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ri.ID, ri.Flow, ri.File, ri.FileSHA256, jsonObject(ri.Parameters), jsonObject(ri.Context),
		runtime.Running.String(), r.started.UnixNano(), os.Getpid(), dag, resumed, sa, sid, key, ri.Scheduled.Late,
		ri.Parent, ri.ParentTaskRun)
	return err
}

func jsonObject(b json.RawMessage) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

// Emit queues e; it waits only while the queue is full. The events of a
// child flow run (a subflow's) that pass through the sink of its parent
// are left out: they are the child run's, recorded as its own or not at
// all.
func (r *Recorder) Emit(e runtime.Event) {
	if e.Parent != "" && e.RunID != r.opt.Run.ID {
		return
	}
	if r.opt.AppendResult == nil {
		e.Result = nil // keep no value alive for nothing
	}
	r.q.push(e)
}

// PutCache queues a cache entry, written with the next batch of events.
func (r *Recorder) PutCache(c CacheEntry) {
	r.mu.Lock()
	r.cache = append(r.cache, c)
	r.mu.Unlock()
}

// Close writes what is left and returns the first error met writing,
// saying what of the run was recorded: nothing, or its events up to a
// time.
func (r *Recorder) Close() error {
	r.once.Do(func() {
		close(r.stop)
		r.q.close()
	})
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.err == nil:
		return nil
	case !r.inserted:
		return fmt.Errorf("%w (the run was not recorded)", r.err)
	case r.kept.IsZero():
		return fmt.Errorf("%w (the run was recorded, but none of its events)", r.err)
	}
	return fmt.Errorf("%w (the run was recorded only up to %s)", r.err, r.kept.Format("2006-01-02 15:04:05.000-0700"))
}

func (r *Recorder) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
}

func (r *Recorder) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

func (r *Recorder) takeCache() []CacheEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cache
	r.cache = nil
	return c
}

func (r *Recorder) loop() {
	defer close(r.done)
	for {
		blocks, ok := r.q.take()
		if !ok {
			if c := r.takeCache(); (len(c) > 0 || !r.inserted) && !r.failed() {
				if err := retryBusy(func() error { return r.write(nil, c) }); err != nil {
					r.fail(r.where(err))
				}
			}
			if !r.failed() && r.s != nil {
				r.s.trimLog()
			}
			return
		}
		start := time.Now()
		if !r.failed() { // once a write failed, the rest would only fail too
			cache := r.takeCache()
			if err := retryBusy(func() error { return r.write(blocks, cache) }); err != nil {
				r.fail(r.where(err))
			}
		}
		r.q.recycle(blocks)
		// Let events gather, so each transaction carries many.
		if wait := r.opt.FlushEvery - time.Since(start); wait > 0 {
			r.sleep(wait)
		}
	}
}

// where says which store a write error is of.
func (r *Recorder) where(err error) error {
	if r.s == nil {
		return fmt.Errorf("run %s on the server: %w", r.opt.Run.ID, err)
	}
	return fmt.Errorf("run store %s: %w", r.s.Path(), err)
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

// write stores one batch of events, and the cache entries made
// meanwhile, in one transaction; the first also inserts the run.
func (r *Recorder) write(blocks [][]runtime.Event, cache []CacheEntry) error {
	b := r.b
	fill := func() {
		b.reset()
		for _, block := range blocks {
			for i := range block {
				b.add(&block[i])
			}
		}
	}
	if r.opt.Send != nil {
		fill()
		return r.send(blocks)
	}
	// In a transaction shared with the other runs that write now: a
	// thousand runs ending together make a few transactions.
	err := r.s.inGroup(false, func(tx *sql.Tx) error {
		fill()
		if !r.inserted {
			if err := r.insertRun(tx); err != nil {
				return err
			}
		}
		if err := b.flush(tx); err != nil {
			return err
		}
		return putCache(tx, cache)
	})
	if err != nil {
		return err
	}
	r.inserted = true
	if n := len(blocks); n > 0 && len(blocks[n-1]) > 0 {
		r.kept = blocks[n-1][len(blocks[n-1])-1].Time
	}
	return nil
}

// send sends one write to the server.
func (r *Recorder) send(blocks [][]runtime.Event) error {
	var w Write
	if !r.inserted {
		w.Start = &Start{Time: r.started}
		if g := r.opt.Graph; g != nil {
			w.Start.DAGHash, w.Start.DAG = dagHash(g), string(appendDAG(make([]byte, 0, 64*len(g.Nodes)), g))
		}
	}
	if c, ok := r.b.chunk(); ok {
		w.Chunk = &c
	}
	if w.Start == nil && w.Chunk == nil {
		return nil
	}
	if err := r.opt.Send(context.Background(), &w); err != nil {
		return err
	}
	r.inserted = true
	if n := len(blocks); n > 0 && len(blocks[n-1]) > 0 {
		r.kept = blocks[n-1][len(blocks[n-1])-1].Time
	}
	return nil
}
