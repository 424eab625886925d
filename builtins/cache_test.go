package builtins

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

const cacheFlow = `
load("lib.star", "scale")

LIMIT = 10

def helper(x):
    return scale(x) + LIMIT

@task(cache_for="1h")
def cached(x, label="a"):
    return helper(x)

@task(cache_for="1h")
def daily(x):
    return "%s %s" % (x, context.today)

@task(cache_for="1h", cache_key=lambda x: x % 2)
def parity(x):
    return x

@task
def plain(x):
    return x

@flow
def f(n=1):
    cached(n)
    daily(n)
    parity(n)
    plain(n)
`

const cacheLib = `
def scale(x):
    return x * 2
`

// cacheKeys builds the flow of dir and returns the cache key of each
// task run ("" when it has none).
func cacheKeys(t *testing.T, dir string, params map[string]starlark.Value, ctxKV map[string]string) map[string]string {
	t.Helper()
	m, err := Load(filepath.Join(dir, "f.star"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Flows[0].Build(BuildOptions{Params: params, RunSettings: RunSettings{RunID: "r", Context: ctxKV}})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, n := range b.Graph.Nodes {
		if n.Kind != runtime.TaskNode {
			continue
		}
		c := &runtime.Call{RunID: "r", Flow: b.Flow.Name(), Node: n, TaskRun: n.Name, MapIndex: -1, Attempt: 1,
			Inputs: []runtime.Value{params["n"]}}
		key, ttl, ok, err := b.CacheKey(context.Background(), c)
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		if ok && ttl.String() != "1h0m0s" {
			t.Errorf("%s: ttl %v", n.Name, ttl)
		}
		keys[n.Name] = key
	}
	return keys
}

func writeFlow(t *testing.T, dir, flow, lib string) {
	t.Helper()
	for name, src := range map[string]string{"f.star": flow, "lib.star": lib} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCacheKeys checks what the default key depends on: the task's
// source and what it calls, the values of the globals it uses, its
// inputs, the context keys it reads; and nothing else.
func TestCacheKeys(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, cacheFlow, cacheLib)
	one := map[string]starlark.Value{"n": starlark.MakeInt(1)}
	day := map[string]string{"today": "2020-11-30"}
	base := cacheKeys(t, dir, one, day)
	if base["plain"] != "" || base["cached"] == "" || base["daily"] == "" || base["parity"] == "" {
		t.Fatalf("keys %v: want one for each task with cache_for", base)
	}
	same := cacheKeys(t, dir, one, day)
	for k, v := range base {
		if same[k] != v {
			t.Errorf("%s: the key changed from one build to the next", k)
		}
	}
	changed := func(what string, keys map[string]string, differ ...string) {
		t.Helper()
		for _, name := range []string{"cached", "daily", "parity"} {
			if want := contains(differ, name); (keys[name] != base[name]) != want {
				t.Errorf("%s: key of %s changed = %v, want %v", what, name, !want, want)
			}
		}
	}
	changed("another day", cacheKeys(t, dir, one, map[string]string{"today": "2020-12-01"}), "daily")
	changed("another input", cacheKeys(t, dir, map[string]starlark.Value{"n": starlark.MakeInt(2)}, day), "cached", "daily", "parity")
	// 3 has the parity of 1: cache_key says the result is the same.
	changed("input of the same parity", cacheKeys(t, dir, map[string]starlark.Value{"n": starlark.MakeInt(3)}, day), "cached", "daily")

	writeFlow(t, dir, strings.Replace(cacheFlow, "return helper(x)", "return helper(x) + 1", 1), cacheLib)
	changed("the task's body", cacheKeys(t, dir, one, day), "cached")
	writeFlow(t, dir, strings.Replace(cacheFlow, "+ LIMIT", "- LIMIT", 1), cacheLib)
	changed("a function it calls", cacheKeys(t, dir, one, day), "cached")
	writeFlow(t, dir, strings.Replace(cacheFlow, "LIMIT = 10", "LIMIT = 11", 1), cacheLib)
	changed("a global its code uses", cacheKeys(t, dir, one, day), "cached")
	writeFlow(t, dir, cacheFlow, strings.Replace(cacheLib, "x * 2", "x * 3", 1))
	changed("a function it loads", cacheKeys(t, dir, one, day), "cached")
	writeFlow(t, dir, strings.Replace(cacheFlow, "def plain(x):\n    return x", "def plain(x):\n    return x + 1", 1), cacheLib)
	changed("another task", cacheKeys(t, dir, one, day))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
