package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
// of 2 slots, real processes on SQLite and PostgreSQL: runs/s, and the
// server's CPU time per run and peak resident memory, from /proc; on
// PostgreSQL also the statements and transactions per run
// (pg_stat_statements), with the most called statements logged.
// WFSH_BENCH_PROFILE=DIR writes the server's CPU profile to
// DIR/server-DB.prof.
func BenchmarkThroughput(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			dsn, pgPID := "", 0
			if db == "postgres" {
				c := pgtest.Start(b)
				dsn, pgPID = c.NewDatabase(b), c.PID()
			}
			var extra []string
			if dir := os.Getenv("WFSH_BENCH_PROFILE"); dir != "" {
				extra = append(extra, "--cpuprofile", filepath.Join(dir, "server-"+db+".prof"))
			}
			ps := startServer(b, 30*time.Second, dsn, extra...)
			if out, code := ps.wfsh(b, ps.admin.Token, "deploy", "../../flows/hello_world.star", "--name", "tp"); code != 0 {
				b.Fatalf("deploy: exit %d\n%s", code, out)
			}
			ctx := context.Background()
			for range b.N {
				if err := ps.admin.Do(ctx, "POST", "/deployments/HelloWorld/tp/runs", server.RunRequest{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			tok := ps.token(b, "worker", "default")
			counting := dsn != "" && pgtest.ResetCounts(ctx, dsn) == nil
			cpu0, pgCPU0 := procCPU(b, ps.cmd.Process.Pid), treeCPU(b, pgPID)
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
			if pgPID != 0 {
				b.ReportMetric(float64((treeCPU(b, pgPID)-pgCPU0).Microseconds())/1000/float64(b.N), "pg-cpu-ms/run")
			}
			if counting {
				reportCounts(b, dsn)
			}
		})
	}
}

// reportCounts reports the statements and commits per run the database
// at dsn ran since pgtest.ResetCounts, and logs the most called.
func reportCounts(b *testing.B, dsn string) {
	c, err := pgtest.ReadCounts(context.Background(), dsn, 40)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(c.Statements)/float64(b.N), "pg-stmts/run")
	b.ReportMetric(float64(c.Commits)/float64(b.N), "pg-commits/run")
	b.ReportMetric(float64(c.Sessions), "pg-sessions")
	var top strings.Builder
	for _, s := range c.Top {
		fmt.Fprintf(&top, "\n%8.2f/run  %s", float64(s.Calls)/float64(b.N), strings.Join(strings.Fields(s.Query), " "))
	}
	b.Logf("most called statements, %d runs:%s", b.N, top.String())
}

// procCPU is the user and system CPU time process pid has used.
func procCPU(tb testing.TB, pid int) time.Duration {
	f := procStat(tb, pid)
	return ticks(f[11]) + ticks(f[12])
}

// procStat is the fields of /proc/PID/stat after the command's name
// (the first is the state, field 3 of proc(5)).
func procStat(tb testing.TB, pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
}

func ticks(field string) time.Duration {
	n, _ := strconv.Atoi(field)
	return time.Duration(n) * 10 * time.Millisecond // USER_HZ = 100
}

// treeCPU is the CPU time of process pid and its children, those that
// ended (waited for) and those alive: a PostgreSQL cluster's, whose
// backends come and go with connections. 0 for pid 0.
func treeCPU(tb testing.TB, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	f := procStat(tb, pid)
	total := ticks(f[11]) + ticks(f[12]) + ticks(f[13]) + ticks(f[14])
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue // gone
		}
		s := string(b)
		cf := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if cf[1] == strconv.Itoa(pid) {
			total += ticks(cf[11]) + ticks(cf[12]) + ticks(cf[13]) + ticks(cf[14])
		}
	}
	return total
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
