package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// BenchmarkDispatchLag measures, with real server and worker processes
// on SQLite and an idle worker, the time from a run made (due at once)
// to its child process starting the run (its first write's start time),
// one run at a time: p50 and p99 as metrics. Prefect's workers poll
// every 10 to 15 s.
func BenchmarkDispatchLag(b *testing.B) {
	ps := startServer(b, 30*time.Second, "")
	tok := ps.token(b, "worker", "default")
	if out, code := ps.wfsh(b, ps.admin.Token, "deploy", "../../flows/hello_world.star", "--name", "lag"); code != 0 {
		b.Fatalf("deploy: exit %d\n%s", code, out)
	}
	ps.startWorker(b, tok, 1)
	ctx := context.Background()
	lags := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		var r store.Run
		if err := ps.admin.Do(ctx, "POST", "/deployments/HelloWorld/lag/runs", server.RunRequest{}, &r); err != nil {
			b.Fatal(err)
		}
		for {
			var d server.RunDetail
			if err := ps.admin.Do(ctx, "GET", "/runs/"+r.ID, nil, &d); err != nil {
				b.Fatal(err)
			}
			if d.Run.State.Finished() {
				if d.Run.State != runtime.Success {
					b.Fatalf("run %s ended %s", r.ID, d.Run.State)
				}
				lags = append(lags, d.Run.StartedAt.Sub(d.Run.Scheduled.At))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.StopTimer()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
}
