package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/pgtest"
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

// BenchmarkThroughput: b.N hello-world runs queued, then run by 4 workers
// of 2 slots, real processes on SQLite: runs/s, and the server's CPU time
// per run and peak resident memory, from /proc.
func BenchmarkThroughput(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			dsn := ""
			if db == "postgres" {
				dsn = pgtest.Start(b).NewDatabase(b)
			}
			ps := startServer(b, 30*time.Second, dsn)
			if out, code := ps.wfsh(b, ps.admin.Token, "deploy", "../../flows/hello_world.star", "--name", "tp"); code != 0 {
				b.Fatalf("deploy: exit %d\n%s", code, out)
			}
			ctx := context.Background()
			for range b.N {
				if err := ps.admin.Do(ctx, "POST", "/deployments/HelloWorld/tp/runs", server.RunRequest{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			cpu0 := procCPU(b, ps.cmd.Process.Pid)
			tok := ps.token(b, "worker", "default")
			b.ResetTimer()
			start := time.Now()
			for range 4 {
				ps.startWorker(b, tok, 2)
			}
			for countStateTB(b, ps, runtime.Success) < b.N {
				time.Sleep(100 * time.Millisecond)
			}
			took := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/took.Seconds(), "runs/s")
			b.ReportMetric(float64((procCPU(b, ps.cmd.Process.Pid)-cpu0).Microseconds())/1000/float64(b.N), "server-cpu-ms/run")
			b.ReportMetric(float64(procHWM(b, ps.cmd.Process.Pid))/1024, "server-peak-MiB")
		})
	}
}

// procCPU is the user and system CPU time process pid has used.
func procCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// procHWM is the peak resident memory of process pid, in KiB.
func procHWM(tb testing.TB, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
