package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// TestCacheMappedChildren runs a cached task mapped over many elements
// twice, in this process (so that -race watches the cache's lookups and
// stores from several workers): the second run takes every child from
// the cache.
func TestCacheMappedChildren(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wfsh.db")
	flow := filepath.Join(dir, "m.star")
	if err := os.WriteFile(flow, []byte(`
@task(cache_for="1h")
def sq(x):
    return x * x

@task
def total(xs):
    if sum(xs) != 40425:
        fail("wrong total %d" % sum(xs))

@flow(name="M")
def f():
    total(sq.map(list(range(50))))
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var out, errb bytes.Buffer
		if code := execute([]string{"run", "--store", db, "--concurrency", "8", flow}, nil, &out, &errb); code != 0 {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, out.String(), errb.String())
		}
	}
	s, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	runs, err := s.ListRuns(ctx, store.RunFilter{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %v, %v", runs, err)
	}
	count := func(id string, st runtime.State) int {
		trs, err := s.TaskRuns(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, tr := range trs {
			if tr.Task == "sq" && tr.MapIndex >= 0 && tr.State == st {
				n++
			}
		}
		return n
	}
	if n := count(runs[1].ID, runtime.Success); n != 50 {
		t.Errorf("first run: %d children Success, want 50", n)
	}
	if n := count(runs[0].ID, runtime.Cached); n != 50 {
		t.Errorf("second run: %d children Cached, want 50", n)
	}
	entries, err := s.CacheList(ctx, store.CacheFilter{Task: "sq"})
	if err != nil || len(entries) != 50 {
		t.Errorf("cache: %d entries, %v; want 50", len(entries), err)
	}
}
