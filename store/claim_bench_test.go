package store

import (
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
