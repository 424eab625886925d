package server

import (
	"context"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
	"github.com/wfsh/wfsh/store"
)

// TestScheduler: a deployment's schedule gets its next ten runs made
// ahead, each time once however often the scheduler looks; after a
// downtime, catchup="latest" keeps only the newest missed run of those
// made ahead, and the times missed after them are made by the same rule.
func TestScheduler(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	every, err := schedule.Interval("1m", "", schedule.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts.deploy(t, ts.admin, DeploymentSpec{Schedules: []schedule.Spec{every.Spec()}, Catchup: "latest"})
	now := time.Date(2026, 3, 27, 2, 0, 30, 0, time.UTC)
	upcoming := func() (sched, cancelled int) {
		runs, err := ts.st.ListServerRuns(ctx, store.ServerRunFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[time.Time]bool{}
		for _, r := range runs {
			if seen[r.Scheduled.At] {
				t.Fatalf("time %v made twice", r.Scheduled.At)
			}
			seen[r.Scheduled.At] = true
			switch r.State {
			case runtime.Scheduled:
				sched++
			case runtime.Cancelled:
				cancelled++
			}
		}
		return sched, cancelled
	}
	for range 3 {
		if err := ts.srv.schedule(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := upcoming(); n != maxAhead {
		t.Fatalf("%d runs made ahead, want %d", n, maxAhead)
	}
	ts.srv.schedule(ctx, now.Add(time.Minute))
	if n, _ := upcoming(); n != maxAhead+1 {
		t.Fatalf("a minute on: %d runs, want %d", n, maxAhead+1)
	}
	// Down for an hour: the 11 runs made ahead were missed, and later
	// times too. The next leader drops the 11 and makes one run for the
	// newest missed time (latest), and ten ahead.
	later := now.Add(time.Hour)
	ts.srv.dropMissed(ctx, later)
	ts.srv.schedule(ctx, later)
	sched, cancelled := upcoming()
	if cancelled != maxAhead+1 || sched != 1+maxAhead {
		t.Fatalf("after an hour down: %d scheduled, %d cancelled; want %d and %d", sched, cancelled, 1+maxAhead, maxAhead+1)
	}
	// Down again, for less than a period past the last run made ahead
	// (03:10, missed at 03:10:30): that run is the newest missed time and
	// is kept; the ten others made ahead go, nothing else is made for the
	// downtime, and ten more are made ahead.
	at := later.Add(10 * time.Minute)
	ts.srv.dropMissed(ctx, at)
	ts.srv.schedule(ctx, at)
	sched2, cancelled2 := upcoming()
	if cancelled2 != cancelled+maxAhead || sched2 != 1+maxAhead {
		t.Fatalf("after a short downtime: %d scheduled, %d cancelled; want %d and %d", sched2, cancelled2, 1+maxAhead, cancelled+maxAhead)
	}
}
