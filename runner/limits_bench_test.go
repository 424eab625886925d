package runner

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wfsh/wfsh/runtime"
)

// BenchmarkW2Limited runs W2 (100,000 mapped children that add 1) with
// its run store, as wfsh run does: plain (flows/bench/w2_map.star), and
// with every child tagged db under limits={"db": 2}
// (flows/bench/w2_map_limited.star). The difference is what the limit
// costs (docs/store.md, "Concurrency limits").
func BenchmarkW2Limited(b *testing.B) {
	for _, file := range []string{"w2_map.star", "w2_map_limited.star"} {
		b.Run(file, func(b *testing.B) {
			path := filepath.Join("..", "flows", "bench", file)
			for b.Loop() {
				st, err := OpenStore(filepath.Join(b.TempDir(), "wfsh.db"), os.Stderr)
				if err != nil {
					b.Fatal(err)
				}
				r := New(Options{Level: runtime.Info, Stderr: os.Stderr, Store: st})
				fl, err := r.Load(path, "", nil)
				if err != nil {
					b.Fatal(err)
				}
				run, err := r.Prepare(context.Background(), fl, Request{})
				if err != nil {
					b.Fatal(err)
				}
				if res := run.Execute(context.Background(), runtime.SinkFunc(func(runtime.Event) {})); res.State != runtime.Success {
					b.Fatalf("%s: %v", file, res.State)
				}
				r.Close()
				st.Close()
			}
		})
	}
}
