package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// BenchmarkClaimRun1000 claims the scheduled runs of 1,000 flows due at
// the same instant, from 1,000 goroutines at once, as wfsh serve does
// when they all fall due.
func BenchmarkClaimRun1000(b *testing.B) {
	s, _ := openTemp(b)
	at := time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC)
	for i := 0; b.Loop(); i++ {
		var wg sync.WaitGroup
		for f := range 1000 {
			wg.Go(func() {
				ri := RunInfo{ID: fmt.Sprintf("r%d-%d", i, f), Flow: fmt.Sprintf("f%d", f), File: "f.star",
					Scheduled: Scheduled{At: at.Add(time.Duration(i) * time.Minute), ScheduleID: "cron-1",
						Key: fmt.Sprintf("sched/f%d/cron-1/%d", f, i)}}
				if err := s.ClaimRun(ri); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkRecord1000 records 1,000 small runs that start and end
// together, each claimed first, from 1,000 goroutines, as wfsh serve does
// when 1,000 flows on one schedule fall due: it reports how long the last
// run took to be recorded, claim to Close.
func BenchmarkRecord1000(b *testing.B) {
	s, _ := openTemp(b)
	at := time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC)
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		var wg sync.WaitGroup
		for f := range 1000 {
			wg.Go(func() {
				id := fmt.Sprintf("r%d-%d", i, f)
				ri := RunInfo{ID: id, Flow: fmt.Sprintf("f%d", f), File: "f.star",
					Scheduled: Scheduled{At: at.Add(time.Duration(i) * time.Minute), ScheduleID: "cron-1",
						Key: fmt.Sprintf("sched/f%d/cron-1/%d", f, i)}}
				if err := s.ClaimRun(ri); err != nil {
					b.Error(err)
					return
				}
				ri.Claimed = true
				r := s.NewRecorder(RecorderOptions{Run: ri})
				for _, e := range events(id, runtime.Success) {
					r.Emit(e)
				}
				if err := r.Close(); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkServerRun is one run's life in a server's store, as a worker
// drives it through the server: made, claimed (the claim is the
// worker's heartbeat too), and its one write (start, chunk and end, as
// a short run sends them). On each backend: the store's share of
// cmd/wfsh's BenchmarkThroughput, without processes.
func BenchmarkServerRun(b *testing.B) {
	for _, be := range []backend{onSQLite, onPostgres} {
		b.Run(string(be), func(b *testing.B) {
			s, _ := be.open(b)
			ctx := context.Background()
			if _, err := s.PutBundle(ctx, "h1", []byte("tar"), t0); err != nil {
				b.Fatal(err)
			}
			d, err := s.PutDeployment(ctx, Deployment{ID: "d1", Flow: "F", Name: "n", File: "f.star", Bundle: "h1", Pool: "p"}, t0)
			if err != nil {
				b.Fatal(err)
			}
			w := Worker{ID: "w1", Pool: "p", Name: "w", Slots: 1, Token: "tok"}
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("r%d", i)
				if _, err := s.CreateRun(ctx, NewRun{ID: id, Deployment: &d}, t0); err != nil {
					b.Fatal(err)
				}
				if runs, err := s.Claim(ctx, "p", w, 1, time.Minute, t0); err != nil || len(runs) != 1 {
					b.Fatalf("claim: %d runs, %v", len(runs), err)
				}
				wr := &Write{Start: &Start{Time: t0, DAGHash: "g1", DAG: "[]"},
					Chunk: &Chunk{Seq: 3, Tasks: "[]", Children: "[]", Final: &Final{State: runtime.Success, Time: t0}}}
				if err := s.ApplyWrite(ctx, id, "w1", wr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
