//go:build !wfshlight

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// busyFlow's run takes a while (a loop of its task); its schedule is
// never reached in the test, which starts runs itself.
const busyFlow = `
@task
def busy():
    x = 0
    for j in range(1500000):
        x += j
    return x

@flow(name="Busy", schedule=cron("0 0 1 1 *"), overlap=%q, late_after="1s")
def f():
    busy()
`

// TestServeOverlap starts the runs of two scheduled times, the second
// while the first still runs, under each overlap= policy, and checks
// what the store recorded of them; both times are 2 s old, past
// late_after, so both runs are Late.
func TestServeOverlap(t *testing.T) {
	for _, tc := range []struct {
		overlap string
		check   func(t *testing.T, first, second store.Run)
	}{
		{"allow", func(t *testing.T, first, second store.Run) {
			if first.State != runtime.Success || second.State != runtime.Success {
				t.Errorf("states %s, %s; want both Success", first.State, second.State)
			}
			if !second.StartedAt.Before(first.FinishedAt) {
				t.Errorf("the second run started %s, after the first ended %s: they did not overlap", second.StartedAt, first.FinishedAt)
			}
		}},
		{"skip", func(t *testing.T, first, second store.Run) {
			if first.State != runtime.Success || second.State != runtime.Cancelled || second.Message == "" {
				t.Errorf("states %s, %s %q; want Success, then Cancelled as skipped", first.State, second.State, second.Message)
			}
		}},
		{"queue", func(t *testing.T, first, second store.Run) {
			if first.State != runtime.Success || second.State != runtime.Success {
				t.Errorf("states %s, %s; want both Success", first.State, second.State)
			}
			if second.StartedAt.Before(first.FinishedAt) {
				t.Errorf("the second run started %s, before the first ended %s", second.StartedAt, first.FinishedAt)
			}
		}},
		{"cancel_other", func(t *testing.T, first, second store.Run) {
			if first.State != runtime.Cancelled || second.State != runtime.Success {
				t.Errorf("states %s, %s; want Cancelled, then Success", first.State, second.State)
			}
			if second.StartedAt.Before(first.FinishedAt) {
				t.Errorf("the second run started %s, before the first ended %s", second.StartedAt, first.FinishedAt)
			}
		}},
	} {
		t.Run(tc.overlap, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "busy.star")
			if err := os.WriteFile(path, []byte(fmt.Sprintf(busyFlow, tc.overlap)), 0o644); err != nil {
				t.Fatal(err)
			}
			rst, err := runner.OpenStore(filepath.Join(dir, "wfsh.db"), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			r := newRunner(io.Discard, runtime.Info, rst, 0)
			defer r.Close()
			out := &proctest.Buffer{}
			jobs, err := scheduledFlows(r, path, out)
			if err != nil {
				t.Fatal(err)
			}
			st, err := rst.Open()
			if err != nil {
				t.Fatal(err)
			}
			sv := &serveLoop{r: r, st: st, out: out, level: runtime.Info, now: time.Now}
			j := jobs[0]
			t1 := time.Now().Truncate(time.Second).Add(-2 * time.Second)
			t2 := t1.Add(time.Second)
			ctx := context.Background()
			sv.start(ctx, j, t1)
			waitRunning(t, out)
			sv.start(ctx, j, t2)
			sv.wg.Wait()
			runs, err := st.ListRuns(ctx, store.RunFilter{})
			if err != nil || len(runs) != 2 {
				t.Fatalf("runs: %d, %v\n%s", len(runs), err, out)
			}
			byTime := map[time.Time]store.Run{}
			for _, r := range runs {
				if r.Scheduled == nil || !r.Scheduled.Late {
					t.Errorf("run %s: scheduled %+v, want Late", r.ID, r.Scheduled)
					continue
				}
				byTime[r.Scheduled.At] = r
			}
			first, ok1 := byTime[t1]
			second, ok2 := byTime[t2]
			if !ok1 || !ok2 {
				t.Fatalf("runs for %s and %s: %v %v\n%s", t1, t2, ok1, ok2, out)
			}
			tc.check(t, first, second)
		})
	}
}

// waitRunning waits until a run has started: its line is in out.
func waitRunning(t *testing.T, out *proctest.Buffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(out.String(), "': run ") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the first run did not start in 10 s\n%s", out)
}

// fakeClock is a wall clock the test steps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// TestServeClockStep steps the wall clock of a scheduler of a
// once-a-minute flow an hour forward, then half an hour back: forward,
// catchup="latest" runs the newest time once (the timer alone would have
// slept on); back, nothing runs again.
func TestServeClockStep(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "minute.star")
	src := "@task\ndef t():\n    pass\n\n@flow(name=\"Minute\", schedule=cron(\"* * * * *\"))\ndef f():\n    t()\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rst, err := runner.OpenStore(filepath.Join(dir, "wfsh.db"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(io.Discard, runtime.Info, rst, 0)
	defer r.Close()
	out := &proctest.Buffer{}
	jobs, err := scheduledFlows(r, path, out)
	if err != nil {
		t.Fatal(err)
	}
	st, err := rst.Open()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 27, 10, 0, 30, 0, time.UTC)
	clock := &fakeClock{now: t0}
	sv := &serveLoop{r: r, st: st, out: out, level: runtime.Info, now: clock.Now, maxSleep: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	sv.wg.Go(func() { sv.loop(ctx, jobs[0]) })
	time.Sleep(50 * time.Millisecond) // a few wakes at t0: nothing is due
	clock.set(t0.Add(time.Hour))
	want := time.Date(2026, 3, 27, 11, 0, 0, 0, time.UTC)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "ended Success") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	clock.set(t0.Add(30 * time.Minute))
	time.Sleep(50 * time.Millisecond)
	cancel()
	sv.wg.Wait()
	runs, err := st.ListRuns(context.Background(), store.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Scheduled == nil || !runs[0].Scheduled.At.Equal(want) {
		t.Fatalf("runs after the steps: %d %+v, want one for %s\n%s", len(runs), runs, want, out)
	}
	if !strings.Contains(out.String(), "59 scheduled time(s) of "+jobs[0].s.ID()+" missed") {
		t.Errorf("no line for the 59 missed times\n%s", out)
	}
}

// TestRunsTableScheduled lists a scheduled run, a Late one and another:
// the SCHEDULED column appears, with "-" for the run not scheduled.
func TestRunsTableScheduled(t *testing.T) {
	at := time.Date(2026, 3, 27, 7, 0, 0, 0, time.UTC)
	start := at.Add(2 * time.Second)
	runs := []store.Run{
		{ID: "aaaaaaaa-1", Flow: "F", State: runtime.Success, StartedAt: start, FinishedAt: start.Add(time.Second),
			Scheduled: &store.Scheduled{At: at, ScheduleID: "cron-1", Key: "k1"}},
		{ID: "bbbbbbbb-2", Flow: "F", State: runtime.Running, StartedAt: start,
			Scheduled: &store.Scheduled{At: at.Add(-time.Hour), ScheduleID: "cron-1", Key: "k2", Late: true}},
		{ID: "cccccccc-3", Flow: "G", State: runtime.Failed, StartedAt: start, FinishedAt: start.Add(time.Second)},
	}
	var b bytes.Buffer
	if err := runsTable(&b, runs, start.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := `RUN       FLOW  STATE    STARTED              DURATION  SCHEDULED
aaaaaaaa  F     Success  ` + start.Format("2006-01-02 15:04:05") + `  1s        2026-03-27 07:00:00Z
bbbbbbbb  F     Running  ` + start.Format("2006-01-02 15:04:05") + `  3s        2026-03-27 06:00:00Z Late
cccccccc  G     Failed   ` + start.Format("2006-01-02 15:04:05") + `  1s        -
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestServeQueueOrder queues two times behind a running one: they run
// one at a time, oldest first, each with its schedule's parameters over
// the flow's defaults.
func TestServeQueueOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.star")
	src := `
@task
def busy(n, label):
    x = 0
    for j in range(n):
        x += j
    return label

@flow(name="Q", schedule=interval("1h", parameters={"n": 1500000}), overlap="queue")
def f(n=1, label="default"):
    busy(n, label)
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rst, err := runner.OpenStore(filepath.Join(dir, "wfsh.db"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(io.Discard, runtime.Info, rst, 0)
	defer r.Close()
	out := &proctest.Buffer{}
	jobs, err := scheduledFlows(r, path, out)
	if err != nil {
		t.Fatal(err)
	}
	st, err := rst.Open()
	if err != nil {
		t.Fatal(err)
	}
	sv := &serveLoop{r: r, st: st, out: out, level: runtime.Info, now: time.Now}
	t1 := time.Now().Truncate(time.Hour)
	ctx := context.Background()
	sv.start(ctx, jobs[0], t1)
	waitRunning(t, out)
	sv.start(ctx, jobs[0], t1.Add(time.Hour))
	sv.start(ctx, jobs[0], t1.Add(2*time.Hour))
	sv.wg.Wait()
	runs, err := st.ListRuns(ctx, store.RunFilter{})
	if err != nil || len(runs) != 3 {
		t.Fatalf("runs: %d, %v\n%s", len(runs), err, out)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Scheduled.At.Before(runs[j].Scheduled.At) })
	for i, r := range runs {
		if r.State != runtime.Success {
			t.Errorf("run %d: %s", i, r.State)
		}
		if got := string(r.Parameters); got != `{"label":"default","n":1500000}` {
			t.Errorf("run %d: parameters %s", i, got)
		}
		if i > 0 && r.StartedAt.Before(runs[i-1].FinishedAt) {
			t.Errorf("the run for %s started %s, before the run for %s ended %s",
				r.Scheduled.At, r.StartedAt, runs[i-1].Scheduled.At, runs[i-1].FinishedAt)
		}
	}
}
