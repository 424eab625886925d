package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
		sum = rt.Tasks()
		if len(sum) == 1 && sum[0].Done == n/2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(sum) != 1 || sum[0].Name != "inc" || sum[0].Runs != n/2 || sum[0].Done != n/2 || sum[0].State != runtime.Success {
		t.Fatalf("mid-run summary %+v; want inc with %d children done", sum, n/2)
	}
	m, reorders := rt.m, rt.reorders
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
	if rt.reorders != reorders {
		t.Errorf("the second refresh ordered every task run again (%d times in all): new children go at the end", rt.reorders)
	}
	runs, sum := rt.All(), rt.Tasks()
	whole, err := s.TaskRuns(ctx, "w2")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(runs, whole) {
		t.Fatalf("refreshed: %d task runs, differing from the %d read whole", len(runs), len(whole))
	}
	if want := summarize(whole); !reflect.DeepEqual(sum, want) {
		t.Errorf("summed up as they came %+v, read whole %+v", sum, want)
	}
	page, err := rt.Page(TaskRunQuery{After: "inc[1500]", Limit: 3})
	if err != nil || len(page.TaskRuns) != 3 || page.TaskRuns[0].Name != "inc[1501]" || page.Next != "inc[1503]" ||
		page.Total != n || page.Counts["Success"] != n {
		t.Errorf("the page after inc[1500]: %+v, %v", page, err)
	}
	if len(sum) != 1 || sum[0].Runs != n || sum[0].Done != n || sum[0].Failed != 0 || sum[0].StartedAt.IsZero() || sum[0].FinishedAt.IsZero() {
		t.Errorf("final summary %+v", sum)
	}
}

// TestRunTasksOutOfOrder: task runs that come out of the order they
// started (a task that started sooner written later; a mapped child
// that started before its siblings written after them) are put where
// they belong: after each chunk, what RunTasks holds equals TaskRuns and
// the summaries read whole.
func TestRunTasksOutOfOrder(t *testing.T) { eachBackend(t, testRunTasksOutOfOrder) }

func testRunTasksOutOfOrder(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now()
	var evs []runtime.Event
	add := func(e runtime.Event, at int) {
		e.Seq, e.Time, e.RunID = uint64(len(evs)+1), t0.Add(time.Duration(at)*time.Millisecond), "ooo"
		evs = append(evs, e)
	}
	add(runtime.Event{Kind: runtime.FlowStarted, MapIndex: -1, Node: runtime.NoNode}, 0)
	for i, at := range rnd.Perm(120) {
		name := fmt.Sprint("t", i)
		if i%3 == 0 { // a child of m
			name = fmt.Sprintf("m[%d]", i/3)
			add(runtime.Event{Kind: runtime.TaskState, Node: 1, TaskRun: name, MapIndex: i / 3, Attempt: 1, State: runtime.Running}, 10+at)
			add(runtime.Event{Kind: runtime.TaskState, Node: 1, TaskRun: name, MapIndex: i / 3, Attempt: 1, State: runtime.Failed}, 500+at)
			continue
		}
		add(runtime.Event{Kind: runtime.TaskState, Node: 2, TaskRun: name, MapIndex: -1, Attempt: 1, State: runtime.Running}, 10+at)
		add(runtime.Event{Kind: runtime.TaskState, Node: 2, TaskRun: name, MapIndex: -1, Attempt: 1, State: runtime.Success, Result: int64(i)}, 500+at)
	}
	rec := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "ooo", Flow: "OOO"}, FlushEvery: time.Millisecond})
	rt := s.NewRunTasks("ooo")
	for i, e := range evs {
		rec.Emit(e)
		if i%25 != 24 && i != len(evs)-1 {
			continue
		}
		// The recorder writes in the background: the two agree once it
		// has written what it was given.
		var got, whole []TaskRun
		for try := 0; try < 100; try++ {
			time.Sleep(10 * time.Millisecond)
			if err := rt.Refresh(ctx); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			var err error
			if whole, err = s.TaskRuns(ctx, "ooo"); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			if got = rt.All(); len(whole) > 0 && reflect.DeepEqual(got, whole) {
				break
			}
		}
		if !reflect.DeepEqual(got, whole) {
			t.Fatalf("after %d events: %v\nread whole %v", i+1, names(got), names(whole))
		}
		if got, want := rt.Tasks(), summarize(whole); !reflect.DeepEqual(got, want) {
			t.Fatalf("after %d events, summed up %+v\nread whole %+v", i+1, got, want)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	// What the recorder wrote only at its close (the loop above stops
	// once the two agree, which they may before the last write).
	if err := rt.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if whole, err := s.TaskRuns(ctx, "ooo"); err != nil || !reflect.DeepEqual(rt.All(), whole) {
		t.Fatalf("after the recorder's close: %v\nread whole %v (%v)", names(rt.All()), names(whole), err)
	}
	if len(rt.All()) != 120 || rt.reorders == 0 {
		t.Errorf("%d task runs, %d reorders: want 120, and m's children moved at least once", len(rt.All()), rt.reorders)
	}
	p, err := rt.Page(TaskRunQuery{Task: "m", State: runtime.Failed, HasState: true, Limit: 10})
	if err != nil || p.Total != 40 || len(p.TaskRuns) != 10 || p.TaskRuns[0].Name != "m[0]" || p.Next != "m[9]" || p.Counts["Success"] != 80 {
		t.Errorf("m's Failed children: %+v, %v", p, err)
	}
	if _, err := rt.Page(TaskRunQuery{After: "nosuch"}); !errors.Is(err, ErrNoTaskRun) {
		t.Errorf("a page after no task run: %v", err)
	}
}

func names(trs []TaskRun) []string {
	var out []string
	for _, tr := range trs {
		out = append(out, tr.Name)
	}
	return out
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

// BenchmarkRunTasksRebuild orders W2's 100,002 task runs and their
// summaries again, as RunTasks did whenever a chunk came (now only when a
// task run's start moves).
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
		rt.reorder()
	}
}

// summarize sums up runs (in TaskRuns' order, read whole) by the task
// run that is not a mapped child, in the order each first appears there,
// as RunTasks does as they come: what its Tasks must equal. A mapped
// child's Task is its parent's name.
func summarize(runs []TaskRun) []TaskSummary {
	var out []TaskSummary
	at, own := map[string]int{}, map[int]bool{}
	for _, r := range runs {
		key := r.Name
		if r.MapIndex >= 0 {
			key = r.Task
		}
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, TaskSummary{Name: key, Kind: "task", State: runtime.Pending})
		}
		s := &out[i]
		if r.MapIndex < 0 {
			s.Task, s.Kind, s.State, own[i] = r.Task, r.Kind, r.State, true
		} else {
			s.Runs++
			if r.State.Finished() {
				s.Done++
			}
			if r.State == runtime.Failed || r.State == runtime.Crashed {
				s.Failed++
			}
		}
		if st := firstTime(r); !st.IsZero() && (s.StartedAt.IsZero() || st.Before(s.StartedAt)) {
			s.StartedAt = st
		}
		if r.FinishedAt.After(s.FinishedAt) {
			s.FinishedAt = r.FinishedAt
		}
	}
	for i := range out {
		s := &out[i]
		if !own[i] { // children only, so far: their state
			s.State = childrenState(s)
		}
		if !s.State.Finished() || s.Done < s.Runs {
			s.FinishedAt = time.Time{}
		}
	}
	return out
}

// BenchmarkRunTasksRefresh is a refresh of W2's 100,002 task runs when
// one more chunk has come (its task runs are reported as records/op):
// what each refresh of a run's page costs while it runs.
//
//	go test -run '^$' -bench RunTasksRefresh -benchtime 5x ./store/
func BenchmarkRunTasksRefresh(b *testing.B) {
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
	ctx := context.Background()
	// The last chunk is kept aside: each refresh measured reads it.
	for _, q := range []string{`CREATE TABLE saved AS SELECT * FROM chunks WHERE run_id = 'w2' AND seq = (SELECT max(seq) FROM chunks WHERE run_id = 'w2')`,
		`DELETE FROM chunks WHERE run_id = 'w2' AND seq = (SELECT seq FROM saved)`} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var records int
	for b.Loop() {
		b.StopTimer()
		rt := s.NewRunTasks("w2")
		if err := rt.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO chunks SELECT * FROM saved`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := rt.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		records = len(rt.m.changed)
		if _, err := s.db.ExecContext(ctx, `DELETE FROM chunks WHERE run_id = 'w2' AND seq = (SELECT seq FROM saved)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(records), "records/op")
}

// TestFollowLogTail: a follower told Tail(n) gives exactly the last n
// entries of those its filter selects (task runs' starts and ends made
// again from records, log lines stored in chunks, with a task filter or
// without; all of them when n is larger), then follows the log as it
// is written.
func TestFollowLogTail(t *testing.T) { eachBackend(t, testFollowLogTail) }

func testFollowLogTail(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	var evs []runtime.Event
	add := func(e runtime.Event) {
		e.Seq, e.Time, e.RunID = uint64(len(evs)+1), time.Unix(0, 0).Add(time.Duration(len(evs))*time.Millisecond), "r"
		evs = append(evs, e)
	}
	add(runtime.Event{Kind: runtime.FlowStarted, Msg: "F", MapIndex: -1, Node: runtime.NoNode})
	for i := range 300 {
		name := fmt.Sprintf("t%d", i%30)
		if i%30 == 0 {
			for j := range 30 {
				add(runtime.Event{Kind: runtime.TaskState, TaskRun: fmt.Sprintf("t%d", j), State: runtime.Running, Attempt: 1, MapIndex: -1, Node: runtime.NoNode})
			}
		}
		add(runtime.Event{Kind: runtime.TaskLog, TaskRun: name, Level: runtime.Info, Msg: fmt.Sprintf("line %d", i), MapIndex: -1, Node: runtime.NoNode})
		if i >= 270 {
			add(runtime.Event{Kind: runtime.TaskState, TaskRun: name, State: runtime.Success, Attempt: 1, MapIndex: -1, Node: runtime.NoNode})
		}
	}
	rec := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "r", Flow: "F"}, FlushEvery: time.Millisecond})
	half := len(evs) / 2
	for i, e := range evs[:half] {
		rec.Emit(e)
		if i%20 == 19 {
			time.Sleep(2 * time.Millisecond) // a chunk every 20 entries or so
		}
	}
	time.Sleep(100 * time.Millisecond) // the first half written
	live := s.FollowLog("r", LogFilter{}).Tail(10)
	var liveGot []uint64
	if err := live.Next(ctx, func(e *runtime.Event) error { liveGot = append(liveGot, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(liveGot) != 10 || !live.Earlier() {
		t.Errorf("mid-run, Tail(10): %v (earlier %v)", liveGot, live.Earlier())
	}
	for i, e := range evs[half:] {
		rec.Emit(e)
		if i%20 == 19 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	var chunks int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM chunks WHERE run_id = 'r'`).Scan(&chunks); err != nil || chunks < 10 {
		t.Fatalf("%d chunks, %v: want many", chunks, err)
	}
	for _, task := range []string{"", "t7"} {
		whole, err := s.Logs(ctx, "r", LogFilter{Task: task})
		if err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for _, e := range whole {
			want = append(want, e.Seq)
		}
		for _, n := range []int{1, 7, 50, len(want) - 1, len(want), len(want) + 10} {
			l := s.FollowLog("r", LogFilter{Task: task}).Tail(n)
			var got []uint64
			if err := l.Next(ctx, func(e *runtime.Event) error { got = append(got, e.Seq); return nil }); err != nil {
				t.Fatal(err)
			}
			w := want[max(0, len(want)-n):]
			if !reflect.DeepEqual(got, w) || l.Earlier() != (n < len(want)) {
				t.Errorf("task %q, the last %d of %d: got %v (earlier %v)\nwant %v", task, n, len(want), got, l.Earlier(), w)
			}
		}
	}
	// The follower opened mid-run: the last 10 entries then, and every
	// one after.
	if err := live.Next(ctx, func(e *runtime.Event) error { liveGot = append(liveGot, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	whole, _ := s.Logs(ctx, "r", LogFilter{})
	var i int
	for i = range whole {
		if whole[i].Seq == liveGot[0] {
			break
		}
	}
	var want []uint64
	for _, e := range whole[i:] {
		want = append(want, e.Seq)
	}
	if !reflect.DeepEqual(liveGot, want) {
		t.Errorf("followed from mid-run with Tail(10): %v\nwant %v", liveGot, want)
	}
}
