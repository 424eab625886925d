package builtins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// cachePolicy is what @task(cache_for=..., cache_key=...) asks of one
// call of a task.
type cachePolicy struct {
	task   *Task
	ttl    time.Duration
	key    starlark.Callable // cache_key, or nil for the default key
	digest *taskDigest       // for the default key
}

// CacheKey returns the cache key of a task run and how long a result
// stays valid, ok false for tasks without cache_for. The default key is
// content-addressed: the flow and task names, the task's digest (its
// source and what it calls and loads, the plugin's version), its
// arguments as resolved for this run, and the values of the context
// keys its code reads. With cache_key=fn, the key is the flow and task
// names and what fn returns for the same arguments. An error says why
// this run cannot use the cache (an argument with no JSON form, a
// cache_key function that failed).
func (b *Build) CacheKey(ctx context.Context, c *runtime.Call) (key string, ttl time.Duration, ok bool, err error) {
	body, _ := c.Node.Body.(*starBody)
	if body == nil || body.cache == nil {
		return "", 0, false, nil
	}
	p := body.cache
	h := sha256.New()
	flow := c.Flow // a subflow's task's is its own flow's, as for a run of that flow
	if flow == "" {
		flow = b.Flow.name
	}
	fmt.Fprintf(h, "wfsh cache 1\x00%s\x00%s\x00", flow, p.task.name)
	args, kwargs, err := body.fillAll(c.Inputs)
	if err != nil {
		return "", 0, false, err
	}
	if p.key != nil {
		v, err := body.callIn(ctx, c, p.key, args, kwargs)
		if err != nil {
			return "", 0, false, fmt.Errorf("cache_key: %v", err)
		}
		if j, err := EncodeJSON(v); err == nil {
			fmt.Fprintf(h, "key %s", j)
		} else {
			fmt.Fprintf(h, "key %s", v.String())
		}
		return hex.EncodeToString(h.Sum(nil)), p.ttl, true, nil
	}
	h.Write(p.digest.sum)
	for i, a := range args {
		d, err := b.run.valueDigest(a)
		if err != nil {
			return "", 0, false, fmt.Errorf("argument %d: %v", i+1, err)
		}
		fmt.Fprintf(h, "\x00arg %x", d)
	}
	for _, kv := range kwargs {
		d, err := b.run.valueDigest(kv[1])
		if err != nil {
			return "", 0, false, fmt.Errorf("argument %s: %v", kv[0], err)
		}
		fmt.Fprintf(h, "\x00%s=%x", kv[0], d)
	}
	cv := &contextValue{run: body.run, call: c}
	for _, k := range p.digest.ctxKeys {
		if k == "*" {
			for _, k := range []string{"today", "flow_name", "parameters"} {
				v, _ := cv.lookup(k)
				fmt.Fprintf(h, "\x00context %s=%s", k, v)
			}
			for _, k := range sortedKeys(body.run.overrides) {
				fmt.Fprintf(h, "\x00context %s=%s", k, body.run.overrides[k])
			}
			continue
		}
		if v, ok := cv.lookup(k); ok {
			fmt.Fprintf(h, "\x00context %s=%s", k, v)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), p.ttl, true, nil
}

// callIn calls fn as a task body would be: in a thread of the task run.
func (s *starBody) callIn(ctx context.Context, c *runtime.Call, fn starlark.Callable, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tr := &taskRun{call: c, run: s.run, ctx: ctx}
	thread := &starlark.Thread{Name: c.TaskRun + " cache_key", Print: printToLog}
	thread.SetLocal(localTask, tr)
	v, err := starlark.Call(thread, fn, args, kwargs)
	if err != nil {
		return nil, positioned(err)
	}
	return v, nil
}

// DecodeResult reads a result stored by AppendResult.
func DecodeResult(j []byte) (runtime.Value, error) { return DecodeJSON(j) }

// HasCache reports whether a task of the build has cache_for.
func (b *Build) HasCache() bool {
	for _, n := range b.Graph.Nodes {
		if body, ok := n.Body.(*starBody); ok && body.cache != nil {
			return true
		}
	}
	return false
}

// valueDigest is the SHA-256 of v's JSON form. The digests of lists and
// dicts are kept for the run: every child of a mapped task gets the same
// unmapped argument, which would otherwise be encoded once per child.
// Values are frozen, so a list's digest does not change.
func (r *runInfo) valueDigest(v starlark.Value) ([32]byte, error) {
	switch v.(type) {
	case *starlark.List, *starlark.Dict:
		if d, ok := r.digests.Load(v); ok {
			return d.([32]byte), nil
		}
	}
	j, err := EncodeJSON(v)
	if err != nil {
		return [32]byte{}, err
	}
	d := sha256.Sum256(j)
	switch v.(type) {
	case *starlark.List, *starlark.Dict:
		r.digests.Store(v, d)
	}
	return d, nil
}
