package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// Store is the run store as the runs of one process use it. It opens in
// the background while the flow loads and builds; a run waits for it only
// before its first task, and stops there if it could not be opened. It
// records the runs (docs/store.md), serves resume and the cache.
type Store struct {
	opening *store.Opening
	stderr  io.Writer
	once    sync.Once

	mu   sync.Mutex
	recs []*store.Recorder // one per run not yet finished

	// SlotLease is the lease of a task run's slots of a concurrency
	// limit: $WFSH_SLOT_LEASE, else store.DefaultSlotLease.
	SlotLease time.Duration
}

// OpenStore starts opening the store at path. What goes wrong while
// writing a run later goes to stderr.
func OpenStore(path string, stderr io.Writer) (*Store, error) {
	o, err := store.OpenLater(path)
	if err != nil {
		return nil, &StoreError{fmt.Errorf("%w (--no-store runs without it)", err)}
	}
	lease, err := slotLease(os.Getenv("WFSH_SLOT_LEASE"))
	if err != nil {
		return nil, &StoreError{err}
	}
	return &Store{opening: o, stderr: stderr, SlotLease: lease}, nil
}

// slotLease reads $WFSH_SLOT_LEASE: a duration of a second or more.
func slotLease(v string) (time.Duration, error) {
	if v == "" {
		return store.DefaultSlotLease, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("WFSH_SLOT_LEASE=%q: want a duration of 1s or more, e.g. 30s", v)
	}
	return d, nil
}

// Open waits for the store.
func (s *Store) Open() (*store.Store, error) {
	st, err := s.opening.Wait()
	if err != nil {
		return nil, &StoreError{fmt.Errorf("%w (--no-store runs without it)", err)}
	}
	return st, nil
}

// Close writes what is left of every run and closes the store; errors met
// writing go to stderr. It may be called more than once, and on a nil
// Store.
func (s *Store) Close() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		s.mu.Lock()
		recs := s.recs
		s.mu.Unlock()
		for _, rec := range recs {
			s.closeRecorder(rec)
		}
		if st, err := s.opening.Wait(); err == nil {
			st.Close()
		}
	})
}

// hooks are what the store gives a run: the sink that records it, the
// task runs that resume takes from the run it resumes, the cache.
type hooks struct {
	sink    runtime.Sink
	mocks   map[runtime.NodeID]runtime.Mock
	cache   runtime.Cache
	limiter runtime.Limiter
	rec     *store.Recorder
	info    store.RunInfo // the run's, which its child runs' start from
}

// begin starts recording the run about to start and prepares what resume
// and the cache give it. Without a store it gives nothing. The store may
// still be opening: events wait in memory meanwhile; only resume and the
// cache wait for it.
func (s *Store) begin(ctx context.Context, path string, b *builtins.Build, runID string,
	params map[string]json.RawMessage, ctxKV map[string]string, from *Resumed, sched *store.Scheduled, queued bool) (hooks, error) {
	if s == nil {
		if sched != nil {
			return hooks{}, fmt.Errorf("a scheduled run needs the run store: its key is kept there")
		}
		return remoteResume(ctx, from, b)
	}
	info, err := runInfo(path, b.Flow.Name(), runID, params, ctxKV)
	if err != nil {
		return hooks{}, err
	}
	if sched != nil {
		info.Scheduled = *sched
		st, err := s.Open()
		if err != nil {
			return hooks{}, err
		}
		claim := st.ClaimRun
		if queued {
			claim = st.StartQueued
		}
		if err := claim(info); err != nil {
			return hooks{}, err
		}
		info.Claimed = true
	}
	var h hooks
	tc := &taskCache{s: s, build: b, runID: runID, pending: map[string]pendingKey{}}
	if from != nil {
		info.ResumedFrom = from.run.ID
		if h.mocks, tc.resumed, err = s.reuse(ctx, from, b); err != nil {
			return hooks{}, err
		}
	}
	tc.rec = s.opening.NewRecorder(store.RecorderOptions{Run: info, Graph: b.Graph, AppendResult: b.AppendResult})
	s.mu.Lock()
	s.recs = append(s.recs, tc.rec)
	s.mu.Unlock()
	h.sink, h.rec, h.info = tc.rec, tc.rec, info
	if hasTags(b.Graph) {
		h.limiter = &limiter{s: s, l: store.Limiter{RunID: runID, Flow: b.Graph.Limits, Lease: s.SlotLease}}
	}
	if len(tc.resumed) > 0 || b.HasCache() {
		h.cache = tc
	}
	return h, nil
}

// remoteResume is what a run without a store (a server's run) takes from
// the server's run it resumes, if any: its graph and task runs came with
// from (ResumedOf).
func remoteResume(ctx context.Context, from *Resumed, b *builtins.Build) (hooks, error) {
	if from == nil {
		return hooks{}, nil
	}
	if !from.remote {
		return hooks{}, &InputError{fmt.Errorf("--resume reads the run store: drop --no-store")}
	}
	var h hooks
	mocks, kids, err := (*Store)(nil).reuse(ctx, from, b)
	if err != nil {
		return hooks{}, err
	}
	// Its child runs resume the resumed run's (subflows.remote).
	h.mocks, h.info.ResumedFrom = mocks, from.run.ID
	if len(kids) > 0 {
		h.cache = resumedCache(kids)
	}
	return h, nil
}

// finish writes what is left of one run, before the store closes.
func (s *Store) finish(h hooks) {
	if s == nil || h.rec == nil {
		return
	}
	s.mu.Lock()
	s.recs = slices.DeleteFunc(s.recs, func(r *store.Recorder) bool { return r == h.rec })
	s.mu.Unlock()
	s.closeRecorder(h.rec)
}

// closeRecorder writes what is left of a run; what went wrong goes to
// stderr, with what of the run was recorded (the recorder's error says).
func (s *Store) closeRecorder(rec *store.Recorder) {
	if err := rec.Close(); err != nil {
		fmt.Fprintf(s.stderr, "wfsh: %v\n", err)
	}
}

// runInfo is what the store keeps of a run before it starts: the file's
// hash, the parameters and context overrides as given.
func runInfo(path, flow, runID string, params map[string]json.RawMessage, ctxKV map[string]string) (store.RunInfo, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return store.RunInfo{}, &InputError{err}
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	pj, err := json.Marshal(params)
	if err != nil {
		return store.RunInfo{}, &InputError{fmt.Errorf("parameters: %v", err)}
	}
	cj, _ := json.Marshal(ctxKV)
	sum := sha256.Sum256(src)
	return store.RunInfo{ID: runID, Flow: flow, File: path, FileSHA256: hex.EncodeToString(sum[:]),
		Parameters: pj, Context: cj}, nil
}

// RecordSkipped records a scheduled run of f that does not run (the
// overlap policy skipped it) with msg, taking its key as Prepare would:
// an error wrapping store.ErrKeyTaken when another run has it.
func (r *Runner) RecordSkipped(f *Flow, req Request, msg string) (string, error) {
	return r.recordScheduled(f, req, func(st *store.Store, ri store.RunInfo) error { return st.RecordSkipped(ri, msg) })
}

// RecordQueued records a scheduled run of f that waits for the flow's
// running runs to end (overlap=queue, cancel_other), with msg, taking its
// key as Prepare would. Prepare with Queued set and RunID the returned id
// starts it; a later wfsh serve starts it if this one dies first
// (store.AdoptQueued).
func (r *Runner) RecordQueued(f *Flow, req Request, msg string) (string, error) {
	return r.recordScheduled(f, req, func(st *store.Store, ri store.RunInfo) error { return st.QueueRun(ri, msg) })
}

// recordScheduled records a scheduled run of f that does not start now
// with record, and returns its id.
func (r *Runner) recordScheduled(f *Flow, req Request, record func(*store.Store, store.RunInfo) error) (string, error) {
	if req.Scheduled == nil {
		return "", fmt.Errorf("only a scheduled run is recorded before it runs")
	}
	if r.opt.Store == nil {
		return "", fmt.Errorf("a scheduled run needs the run store: its key is kept there")
	}
	id := req.RunID
	if id == "" {
		id = runtime.NewRunID()
	}
	kv := ScheduledContext(req.Scheduled.At)
	maps.Copy(kv, req.Context)
	info, err := runInfo(f.Path, f.Flow.Name(), id, req.Params, kv)
	if err != nil {
		return "", err
	}
	info.Scheduled = *req.Scheduled
	st, err := r.opt.Store.Open()
	if err != nil {
		return "", err
	}
	return id, record(st, info)
}

// limiter is the store's limiter of a run, once the store is open.
type limiter struct {
	s    *Store
	l    store.Limiter
	once sync.Once
	err  error
}

func (l *limiter) Acquire(ctx context.Context, c *runtime.Call) (func(), error) {
	l.once.Do(func() { l.l.Store, l.err = l.s.Open() })
	if l.err != nil {
		return nil, l.err
	}
	return l.l.Acquire(ctx, c)
}

func hasTags(g *runtime.Graph) bool {
	for _, n := range g.Nodes {
		if len(n.Tags) > 0 {
			return true
		}
	}
	return false
}
