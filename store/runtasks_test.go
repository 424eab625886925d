package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// TestRunTasks follows a W2-like run of 2,000 mapped children as it is
// written: a refresh mid-run sees the children written so far, reads
// only the chunks written since the one before, and the last refresh
// gives what TaskRuns reads whole, with the task summed up.
func TestRunTasks(t *testing.T) { eachBackend(t, testRunTasks) }

func testRunTasks(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	const n = 2000
	evs := mapEvents(n)
	rec := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "w2", Flow: "W2"}, FlushEvery: time.Millisecond})
	half := 2 + n // FlowStarted, MapExpanded, then n/2 children started and ended
	for _, e := range evs[:half] {
		e.RunID = "w2"
		rec.Emit(e)
	}
	rt := s.NewRunTasks("w2")
	deadline := time.Now().Add(10 * time.Second)
	var sum []TaskSummary
	for {
		if err := rt.Refresh(ctx); err != nil && !errors.Is(err, ErrNotFound) { // not yet written
			t.Fatal(err)
		}
		_, _, sum = rt.Snapshot()
		if len(sum) == 1 && sum[0].Done == n/2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(sum) != 1 || sum[0].Name != "inc" || sum[0].Runs != n/2 || sum[0].Done != n/2 || sum[0].State != runtime.Success {
		t.Fatalf("mid-run summary %+v; want inc with %d children done", sum, n/2)
	}
	m := rt.m
	for _, e := range evs[half:] {
		e.RunID = "w2"
		rec.Emit(e)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if rt.m != m {
		t.Error("the second refresh read the run again whole")
	}
	runs, index, sum := rt.Snapshot()
	whole, err := s.TaskRuns(ctx, "w2")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(runs, whole) {
		t.Fatalf("refreshed: %d task runs, differing from the %d read whole", len(runs), len(whole))
	}
	if i, ok := index["inc[1500]"]; !ok || runs[i].Name != "inc[1500]" {
		t.Errorf("index of inc[1500]: %d %v", i, ok)
	}
	if len(sum) != 1 || sum[0].Runs != n || sum[0].Done != n || sum[0].Failed != 0 || sum[0].StartedAt.IsZero() || sum[0].FinishedAt.IsZero() {
		t.Errorf("final summary %+v", sum)
	}
}

// TestFollowLog: a run's log followed while it is written, a Next at a
// time, gives what Logs gives read whole at the end, with a task filter
// or without.
func TestFollowLog(t *testing.T) { eachBackend(t, testFollowLog) }

func testFollowLog(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	evs := mapEvents(500)
	for i := 10; i < len(evs); i += 50 { // a log line now and then, of a child
		evs[i].Kind, evs[i].Level, evs[i].Msg, evs[i].State, evs[i].Result = runtime.TaskLog, runtime.Info, fmt.Sprintf("line %d", i), 0, nil
	}
	rec := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "w2", Flow: "W2"}, FlushEvery: time.Millisecond})
	follow := map[string]*LogFollower{"": s.FollowLog("w2", LogFilter{}), "inc": s.FollowLog("w2", LogFilter{Task: "inc"})}
	got := map[string][]uint64{}
	next := func() {
		for k, f := range follow {
			if err := f.Next(ctx, func(e *runtime.Event) error { got[k] = append(got[k], e.Seq); return nil }); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
	for i, e := range evs {
		e.RunID = "w2"
		rec.Emit(e)
		if i%100 == 99 {
			time.Sleep(3 * time.Millisecond)
			next()
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	next()
	for k := range follow {
		whole, err := s.Logs(ctx, "w2", LogFilter{Task: k})
		if err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for _, e := range whole {
			want = append(want, e.Seq)
		}
		if len(want) < 3 || !reflect.DeepEqual(got[k], want) {
			t.Errorf("task %q: followed %v\nwhole %v", k, got[k], want)
		}
	}
}

// BenchmarkRunTasksRebuild orders and sums up W2's 100,002 task runs
// again, as RunTasks does when a chunk comes.
//
//	go test -run '^$' -bench RunTasksRebuild -benchtime 5x ./store/
func BenchmarkRunTasksRebuild(b *testing.B) {
	s, err := Open(b.TempDir() + "/wfsh.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "w2", Flow: "W2"}})
	for _, e := range mapEvents(100000) {
		e.RunID = "w2"
		rec.Emit(e)
	}
	if err := rec.Close(); err != nil {
		b.Fatal(err)
	}
	rt := s.NewRunTasks("w2")
	if err := rt.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rt.rebuild()
	}
}
