package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// taskCache is the runtime.Cache of a run: the task runs resumed from an
// earlier run, then the results of @task(cache_for=...) tasks.
type taskCache struct {
	s       *Store
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
	st, err := c.s.Open()
	if err != nil {
		return nil, "", false
	}
	e, found, err := st.CacheGet(ctx, key, time.Now())
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
	flow := call.Flow // a subflow's task's is its child flow's
	if flow == "" {
		flow = c.build.Flow.Name()
	}
	c.rec.PutCache(store.CacheEntry{Key: p.key, Task: call.Node.Task, Flow: flow, RunID: c.runID,
		TaskRun: call.TaskRun, Result: j, Created: now, Expires: now.Add(p.ttl)})
}
