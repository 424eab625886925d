package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// BenchmarkSlotRoundTrip takes a slot of a limit of 2 and frees it, as a
// tagged task run's attempt that finds room does (Limiter: acquireSlots, then
// ReleaseSlots), one after the other on each database; p50 and p99 are
// the round trip's percentiles.
func BenchmarkSlotRoundTrip(b *testing.B) {
	for _, be := range []backend{onSQLite, onPostgres} {
		b.Run(string(be), func(b *testing.B) {
			s, _ := be.open(b)
			ctx := context.Background()
			if err := s.PutLimit(ctx, "db", 2); err != nil {
				b.Fatal(err)
			}
			c := &SlotClaim{RunID: "r", Holder: "q", Tags: []string{"db"}, Lease: DefaultSlotLease}
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				g, err := s.acquireSlots(ctx, c, t0, false) // as a first attempt of the Limiter
				if err != nil || !g.OK {
					b.Fatalf("%+v %v", g, err)
				}
				if err := s.ReleaseSlots(ctx, c.RunID, c.Holder); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t0))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkSlotHandoff frees the one slot of a limit while a task run of
// the same process (same store) or of another (another store on the same
// database) waits for it, and measures from the release to the waiter
// holding it: what wakes it is the in-process broadcast, or on SQLite
// across processes the poll (MaxSlotPoll at most), on PostgreSQL NOTIFY.
func BenchmarkSlotHandoff(b *testing.B) {
	for _, be := range []backend{onSQLite, onPostgres} {
		for _, where := range []string{"same-process", "other-process"} {
			b.Run(string(be)+"/"+where, func(b *testing.B) {
				s, dsn := be.open(b)
				w := s
				if where == "other-process" {
					var err error
					if w, err = Open(dsn); err != nil {
						b.Fatal(err)
					}
					defer w.Close()
				}
				benchHandoff(b, s, w)
			})
		}
	}
}

func benchHandoff(b *testing.B, holder, waiter *Store) {
	ctx := context.Background()
	if err := holder.PutLimit(ctx, "db", 1); err != nil {
		b.Fatal(err)
	}
	node := &runtime.Node{Tags: []string{"db"}}
	hl := &Limiter{Store: holder, RunID: "h"}
	wl := &Limiter{Store: waiter, RunID: "w"}
	var took []time.Duration
	for b.Loop() {
		release, err := hl.Acquire(ctx, &runtime.Call{Node: node, TaskRun: "q"})
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time)
		go func() {
			r, err := wl.Acquire(ctx, &runtime.Call{Node: node, TaskRun: "q"})
			if err != nil {
				b.Error(err)
			}
			got <- time.Now()
			r()
		}()
		time.Sleep(100 * time.Millisecond) // the waiter waits, its poll at MaxSlotPoll
		t0 := time.Now()
		release()
		took = append(took, (<-got).Sub(t0))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkLimiterRoundTrip takes and frees a slot of a limit of 2
// through a run's Limiter, as an attempt of a tagged task run does:
// "alone", one task run after another (each takes a row of the store and
// deletes it); "busy", eight task runs of the run at once, as W2's
// workers (the run holds both rows, and each release hands its row to a
// waiting task run). p50 and p99 are those of one acquire and release,
// waits for a slot included in "busy"; ns/op is per attempt.
func BenchmarkLimiterRoundTrip(b *testing.B) {
	for _, workers := range []int{1, 8} {
		name := map[int]string{1: "alone", 8: "busy"}[workers]
		b.Run(name, func(b *testing.B) {
			s, _ := onSQLite.open(b)
			l := &Limiter{Store: s, RunID: "r", Flow: map[string]int{"db": 2}}
			node := &runtime.Node{Name: "q", Tags: []string{"db"}}
			took := make([][]time.Duration, workers)
			next := make(chan struct{})
			done := make(chan struct{})
			for w := range workers {
				go func() {
					defer func() { done <- struct{}{} }()
					for range next {
						t0 := time.Now()
						release, err := l.Acquire(context.Background(), &runtime.Call{Node: node, TaskRun: "q"})
						if err != nil {
							b.Error(err)
							return
						}
						release()
						took[w] = append(took[w], time.Since(t0))
					}
				}()
			}
			for b.Loop() {
				next <- struct{}{}
			}
			close(next)
			var all []time.Duration
			for w := range workers {
				<-done
				all = append(all, took[w]...)
			}
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		})
	}
}
