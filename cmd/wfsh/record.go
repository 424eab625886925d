package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// runStore is the run store's part in one `wfsh run`. The store opens in
// the background while the flow loads and builds; the run waits for it
// only before its first task, and stops there if it could not be opened.
// It records the run (docs/store.md), serves --resume and the cache.
type runStore struct {
	opening *store.Opening
	stderr  io.Writer
	from    *store.Run // the run --resume resumes
	once    sync.Once

	mu   sync.Mutex
	recs []*store.Recorder // one per run (backfill makes several)
}

// startStore starts opening the store, unless --no-store.
func startStore(f *runFlags, stderr io.Writer) (*runStore, error) {
	if f.noStore {
		return nil, nil
	}
	path, err := f.store.where()
	if err != nil {
		return nil, err
	}
	o, err := store.OpenLater(path)
	if err != nil {
		return nil, storeErr(fmt.Errorf("%w (--no-store runs without it)", err))
	}
	return &runStore{opening: o, stderr: stderr}, nil
}

// open waits for the store. Task runs of the cache call it at once.
func (rs *runStore) open() (*store.Store, error) {
	st, err := rs.opening.Wait()
	if err != nil {
		return nil, storeErr(fmt.Errorf("%w (--no-store runs without it)", err))
	}
	return st, nil
}

// runHooks are what the store gives a run: the sink that records it, the
// task runs that resume takes from the run it resumes, the cache.
type runHooks struct {
	sink  runtime.Sink
	mocks map[runtime.NodeID]runtime.Mock
	cache runtime.Cache
	rec   *store.Recorder
}

// finish writes what is left of one run, before the store closes.
func (rs *runStore) finish(h runHooks) {
	if rs == nil || h.rec == nil {
		return
	}
	rs.mu.Lock()
	rs.recs = slices.DeleteFunc(rs.recs, func(r *store.Recorder) bool { return r == h.rec })
	rs.mu.Unlock()
	rs.closeRecorder(h.rec)
}

// closeRecorder writes what is left of a run; what went wrong goes to
// stderr, with what of the run was recorded (the recorder's error says).
func (rs *runStore) closeRecorder(rec *store.Recorder) {
	if err := rec.Close(); err != nil {
		fmt.Fprintf(rs.stderr, "wfsh: %v\n", err)
	}
}

// begin starts recording the run about to start and prepares what resume
// and the cache give it. Without a store it gives nothing. The store may
// still be opening: events wait in memory meanwhile; only --resume and
// the cache wait for it.
func (rs *runStore) begin(ctx context.Context, path string, f *runFlags, b *builtins.Build, runID string, ctxKV map[string]string) (runHooks, error) {
	if rs == nil {
		return runHooks{}, nil
	}
	info, err := runInfo(path, b.Flow.Name(), runID, f.params, ctxKV)
	if err != nil {
		return runHooks{}, err
	}
	var h runHooks
	tc := &taskCache{rs: rs, build: b, runID: runID, pending: map[string]pendingKey{}}
	if rs.from != nil {
		info.Parameters, info.ResumedFrom = rs.from.Parameters, rs.from.ID
		if h.mocks, tc.resumed, err = rs.reuse(ctx, b); err != nil {
			return runHooks{}, err
		}
	}
	tc.rec = rs.opening.NewRecorder(store.RecorderOptions{Run: info, Graph: b.Graph, AppendResult: b.AppendResult})
	rs.mu.Lock()
	rs.recs = append(rs.recs, tc.rec)
	rs.mu.Unlock()
	h.sink, h.rec = tc.rec, tc.rec
	if len(tc.resumed) > 0 || b.HasCache() {
		h.cache = tc
	}
	return h, nil
}

// close writes what is left and closes the store; errors met writing go
// to stderr. It may be called more than once, and on a nil runStore.
func (rs *runStore) close() {
	if rs == nil {
		return
	}
	rs.once.Do(func() {
		rs.mu.Lock()
		recs := rs.recs
		rs.mu.Unlock()
		for _, rec := range recs {
			rs.closeRecorder(rec)
		}
		if st, err := rs.opening.Wait(); err == nil {
			st.Close()
		}
	})
}

// runInfo is what the store keeps of a run before it starts: the file's
// hash, the parameters and context overrides as given.
func runInfo(path, flow, runID string, params []string, ctxKV map[string]string) (store.RunInfo, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return store.RunInfo{}, badInput(err)
	}
	pm := map[string]json.RawMessage{}
	for _, kv := range params {
		k, v, _ := strings.Cut(kv, "=")
		pm[k] = jsonOrString(v)
	}
	pj, _ := json.Marshal(pm)
	cj, _ := json.Marshal(ctxKV)
	sum := sha256.Sum256(src)
	return store.RunInfo{ID: runID, Flow: flow, File: path, FileSHA256: hex.EncodeToString(sum[:]),
		Parameters: pj, Context: cj}, nil
}

// registerStoreFlags adds the run store's flags to `wfsh run`.
func registerStoreFlags(fl *pflag.FlagSet, f *runFlags) {
	f.store.register(fl)
	fl.BoolVar(&f.noStore, "no-store", false, "do not record the run (and use no cache)")
	fl.StringVar(&f.resume, "resume", "", "resume the run RUN (its id or a unique prefix): the task runs that succeeded in it are not run again")
	// --record asked for recording when it was not the default: it is
	// kept, hidden, so that scripts using it go on working.
	fl.BoolVar(&f.record, "record", false, "record the run (every run is, unless --no-store)")
	_ = fl.MarkHidden("record")
}

// taskCache is the runtime.Cache of a run: the task runs resumed from an
// earlier run, then the results of @task(cache_for=...) tasks.
type taskCache struct {
	rs      *runStore
	rec     *store.Recorder
	build   *builtins.Build
	runID   string
	resumed map[string]runtime.Mock // by task run name

	mu      sync.Mutex
	pending map[string]pendingKey // task runs that missed, until they succeed
}

type pendingKey struct {
	key string
	ttl time.Duration
}

func (c *taskCache) Lookup(ctx context.Context, call *runtime.Call) (runtime.Value, string, bool) {
	if m, ok := c.resumed[call.TaskRun]; ok {
		return m.Result, m.Msg, true
	}
	key, ttl, ok, err := c.build.CacheKey(ctx, call)
	if !ok {
		return nil, "", false
	}
	if err != nil {
		call.Log(runtime.Warning, "not cached: "+err.Error())
		return nil, "", false
	}
	st, err := c.rs.open()
	if err != nil {
		return nil, "", false
	}
	now := time.Now()
	e, found, err := st.CacheGet(ctx, key, now)
	if err != nil {
		call.Log(runtime.Warning, "cache: "+err.Error())
	}
	if found {
		v, err := builtins.DecodeResult(e.Result)
		if err == nil {
			return v, cachedMsg(e), true
		}
		call.Log(runtime.Warning, "cache: "+err.Error())
	}
	c.mu.Lock()
	c.pending[call.TaskRun] = pendingKey{key, ttl}
	c.mu.Unlock()
	return nil, "", false
}

func cachedMsg(e store.CacheEntry) string {
	msg := fmt.Sprintf("cached result of task run '%s' of run %s", e.TaskRun, e.RunID)
	if !e.Expires.IsZero() {
		msg += ", valid until " + e.Expires.Format("2006-01-02 15:04:05-0700")
	}
	return msg
}

func (c *taskCache) Store(call *runtime.Call, v runtime.Value) {
	c.mu.Lock()
	p, ok := c.pending[call.TaskRun]
	delete(c.pending, call.TaskRun)
	c.mu.Unlock()
	if !ok {
		return
	}
	j, err := c.build.AppendResult(nil, v)
	if err != nil {
		call.Log(runtime.Warning, "result not cached: "+err.Error())
		return
	}
	now := time.Now()
	c.rec.PutCache(store.CacheEntry{Key: p.key, Task: call.Node.Task, Flow: c.build.Flow.Name(), RunID: c.runID,
		TaskRun: call.TaskRun, Result: j, Created: now, Expires: now.Add(p.ttl)})
}
