package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "wfsh.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// events is a small run: a task "a", a task "sq" mapped over two children
// (one retried), and a log line, ending in state.
func events(runID string, final runtime.State) []runtime.Event {
	t0 := time.Date(2020, 11, 29, 10, 47, 10, 0, time.UTC)
	evs := []runtime.Event{
		{Kind: runtime.FlowStarted, Msg: "F", MapIndex: -1, Node: runtime.NoNode},
		{Kind: runtime.TaskState, TaskRun: "a", MapIndex: -1, Attempt: 1, State: runtime.Running},
		{Kind: runtime.TaskLog, TaskRun: "a", MapIndex: -1, Attempt: 1, Level: runtime.Info, Msg: "hello"},
		{Kind: runtime.TaskState, TaskRun: "a", MapIndex: -1, Attempt: 1, State: runtime.Success, Result: "42"},
		{Kind: runtime.MapExpanded, TaskRun: "sq", MapIndex: -1, Node: 1, Children: 2},
		{Kind: runtime.TaskState, TaskRun: "sq[0]", MapIndex: 0, Attempt: 1, State: runtime.Running},
		{Kind: runtime.TaskState, TaskRun: "sq[1]", MapIndex: 1, Attempt: 1, State: runtime.Running},
		{Kind: runtime.TaskState, TaskRun: "sq[0]", MapIndex: 0, Attempt: 1, State: runtime.Success},
		{Kind: runtime.TaskState, TaskRun: "sq[1]", MapIndex: 1, Attempt: 1, State: runtime.Retrying, Msg: "boom"},
		{Kind: runtime.TaskState, TaskRun: "sq[1]", MapIndex: 1, Attempt: 2, State: runtime.Running},
		{Kind: runtime.TaskState, TaskRun: "sq[1]", MapIndex: 1, Attempt: 2, State: runtime.Failed, Msg: "boom again"},
		{Kind: runtime.TaskState, TaskRun: "sq", MapIndex: -1, Attempt: 1, State: runtime.Mapped},
		{Kind: runtime.FlowFinished, State: final, Msg: "done", MapIndex: -1},
	}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		evs[i].Time = t0.Add(time.Duration(i) * time.Second)
		evs[i].RunID = runID
	}
	return evs
}

func recordRun(t *testing.T, s *Store, id, flow string, evs []runtime.Event, opt RecorderOptions) {
	t.Helper()
	opt.Run.ID, opt.Run.Flow, opt.Run.File = id, flow, "flows/"+flow+".star"
	r := s.NewRecorder(opt)
	for _, e := range evs {
		r.Emit(e)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateFromEmpty(t *testing.T) { eachBackend(t, testMigrateFromEmpty) }

func testMigrateFromEmpty(t *testing.T, b backend) {
	s, path := b.open(t)
	v, err := s.Version(context.Background())
	if err != nil || v != SchemaVersion || v != 14 {
		t.Fatalf("version = %d, %v; want %d", v, err, SchemaVersion)
	}
	s.Close()
	// Reopening applies nothing and keeps one version row.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var n int
	if err := s2.db.QueryRow(`SELECT count(*) FROM schema_version`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("schema_version rows = %d, %v; want 1", n, err)
	}
	if b == onSQLite {
		var mode string
		if err := s2.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
	}
	for _, table := range []string{"runs", "chunks", "cache"} {
		if _, err := s2.db.Exec(`SELECT * FROM ` + table + ` LIMIT 1`); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) { eachBackend(t, testNewerSchemaRefused) }

func testNewerSchemaRefused(t *testing.T, b backend) {
	s, path := b.open(t)
	if _, err := s.db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v, want an error", err)
	}
}

func TestRoundTrip(t *testing.T) { eachBackend(t, testRoundTrip) }

func testRoundTrip(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	enc := func(b []byte, v runtime.Value) ([]byte, error) {
		if str, ok := v.(string); ok {
			return append(b, str...), nil
		}
		return nil, fmt.Errorf("not a string")
	}
	recordRun(t, s, "11111111-aaaa", "F", events("11111111-aaaa", runtime.Failed), RecorderOptions{
		Run:          RunInfo{FileSHA256: "abc", Parameters: []byte(`{"n":3}`), Context: []byte(`{"today":"2020-11-30"}`)},
		AppendResult: enc,
	})
	r, err := s.GetRun(ctx, "11111111-aaaa")
	if err != nil {
		t.Fatal(err)
	}
	if r.Flow != "F" || r.State != runtime.Failed || r.Message != "done" || r.FileSHA256 != "abc" ||
		string(r.Parameters) != `{"n":3}` || string(r.Context) != `{"today":"2020-11-30"}` ||
		r.PID != os.Getpid() || r.FinishedAt.IsZero() {
		t.Errorf("run = %+v", r)
	}
	trs, err := s.TaskRuns(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range trs {
		got = append(got, fmt.Sprintf("%s/%s/%d %s x%d %q %s", tr.Name, tr.Task, tr.MapIndex, tr.State, tr.Attempts, tr.Message, tr.Result))
	}
	want := []string{
		`a/a/-1 Success x1 "" 42`,
		`sq[0]/sq/0 Success x1 "" `,
		`sq[1]/sq/1 Failed x2 "boom again" `,
		`sq/sq/-1 Mapped x1 "" `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("task runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	logs, err := s.Logs(ctx, r.ID, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// Children's routine state changes are not in the logs; their failures are.
	var kinds []string
	for _, e := range logs {
		kinds = append(kinds, fmt.Sprintf("%d:%s:%s", e.Seq, e.Kind, e.TaskRun))
	}
	if w := "1:flow_started: 2:task_state:a 3:task_log:a 4:task_state:a 5:map_expanded:sq 9:task_state:sq[1] 11:task_state:sq[1] 12:task_state:sq 13:flow_finished:"; strings.Join(kinds, " ") != w {
		t.Errorf("logs: %s\nwant %s", strings.Join(kinds, " "), w)
	}
	if logs[2].Level != runtime.Info || logs[2].Msg != "hello" || !logs[2].Time.Equal(events("", 0)[2].Time) || logs[4].Children != 2 {
		t.Errorf("log entries: %+v", logs)
	}
	after, _ := s.Logs(ctx, r.ID, LogFilter{After: 11})
	if len(after) != 2 { // 12 and 13
		t.Errorf("after 11: %d entries, want 2", len(after))
	}
	onlyA, _ := s.Logs(ctx, r.ID, LogFilter{Task: "a"})
	if len(onlyA) != 5 { // flow started, a x3, flow finished
		t.Errorf("task a: %d entries, want 5: %+v", len(onlyA), onlyA)
	}
	onlySq, _ := s.Logs(ctx, r.ID, LogFilter{Task: "sq"})
	if len(onlySq) != 6 {
		t.Errorf("task sq: %d entries, want 6: %+v", len(onlySq), onlySq)
	}
}

func TestListRunsFilters(t *testing.T) { eachBackend(t, testListRunsFilters) }

func testListRunsFilters(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	recordRun(t, s, "aaaa-1", "etl", events("aaaa-1", runtime.Success), RecorderOptions{})
	recordRun(t, s, "aaaa-2", "etl", events("aaaa-2", runtime.Failed), RecorderOptions{})
	recordRun(t, s, "bbbb-3", "hello", events("bbbb-3", runtime.Success), RecorderOptions{})
	ids := func(f RunFilter) string {
		t.Helper()
		runs, err := s.ListRuns(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		f    RunFilter
		want string
	}{
		{RunFilter{}, "bbbb-3 aaaa-2 aaaa-1"},
		{RunFilter{Flow: "etl"}, "aaaa-2 aaaa-1"},
		{RunFilter{State: "failed"}, "aaaa-2"},
		{RunFilter{State: "Success", Flow: "hello"}, "bbbb-3"},
		{RunFilter{Limit: 1}, "bbbb-3"},
		{RunFilter{Flow: "nope"}, ""},
	} {
		if got := ids(c.f); got != c.want {
			t.Errorf("ListRuns(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
	if _, err := s.ListRuns(ctx, RunFilter{State: "weird"}); err == nil {
		t.Error("an unknown state is not an error")
	}
}

func TestGetRunPrefix(t *testing.T) { eachBackend(t, testGetRunPrefix) }

func testGetRunPrefix(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	for _, id := range []string{"abc1", "abc2", "abd3"} {
		recordRun(t, s, id, "F", nil, RecorderOptions{})
	}
	if r, err := s.GetRun(ctx, "abd"); err != nil || r.ID != "abd3" {
		t.Errorf("GetRun(abd) = %q, %v", r.ID, err)
	}
	if r, err := s.GetRun(ctx, "abc1"); err != nil || r.ID != "abc1" {
		t.Errorf("GetRun(abc1) = %q, %v", r.ID, err)
	}
	_, err := s.GetRun(ctx, "ab")
	if err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), "abc1") {
		t.Errorf("GetRun(ab) error = %v, want ambiguous", err)
	}
	if _, err := s.GetRun(ctx, "zz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun(zz) error = %v, want ErrNotFound", err)
	}
	// A % or _ in the prefix is no wildcard.
	if _, err := s.GetRun(ctx, "ab_"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun(ab_) error = %v, want ErrNotFound", err)
	}
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestCrashMarking(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	evs := events("dead", runtime.Success)
	for i := range evs { // after the run's start
		evs[i].Time = time.Now().Add(time.Duration(i+1) * time.Second)
	}
	// Half a run: "a" done, sq[1] retrying, sq[0] running, no end.
	r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "dead", Flow: "F"}})
	for _, e := range evs[:9] {
		r.Emit(e)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	recordRun(t, s, "alive", "F", evs[:3], RecorderOptions{}) // unfinished, but this process lives
	if _, err := s.db.Exec(`UPDATE runs SET pid = ? WHERE id = 'dead'`, deadPID(t)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dead, _ := s.GetRun(ctx, "dead")
	// It ended with the last event recorded (the 9th, at t0+8s).
	if dead.State != runtime.Crashed || !strings.Contains(dead.Message, "died") || !dead.FinishedAt.Equal(evs[8].Time) {
		t.Errorf("dead run: %+v", dead)
	}
	trs, _ := s.TaskRuns(ctx, "dead")
	states := map[string]runtime.State{}
	for _, tr := range trs {
		states[tr.Name] = tr.State
	}
	if states["a"] != runtime.Success || states["sq[0]"] != runtime.Success || states["sq[1]"] != runtime.Crashed {
		t.Errorf("task runs of the dead run: %v", states)
	}
	if alive, _ := s.GetRun(ctx, "alive"); alive.State != runtime.Running {
		t.Errorf("the live run is %s, want Running", alive.State)
	}
}

// TestConcurrentRecorders writes two runs into one store through two
// Stores at once: neither may fail with "database is locked", and on
// PostgreSQL the two open a new database at once (one migrates).
func TestConcurrentRecorders(t *testing.T) { eachBackend(t, testConcurrentRecorders) }

func testConcurrentRecorders(t *testing.T, b backend) {
	path := b.where(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- writeMany(path, fmt.Sprintf("run-%d", w), 20000)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for w := range 2 {
		id := fmt.Sprintf("run-%d", w)
		trs, err := s.TaskRuns(context.Background(), id)
		if err != nil || len(trs) != 20000 {
			t.Fatalf("%s: %d task runs, %v; want 20000", id, len(trs), err)
		}
		for _, tr := range trs {
			if tr.State != runtime.Success || tr.StartedAt.IsZero() || tr.FinishedAt.IsZero() {
				t.Fatalf("%s: %+v", id, tr)
			}
		}
		if r, _ := s.GetRun(context.Background(), id); r.State != runtime.Success {
			t.Errorf("%s: run state %s", id, r.State)
		}
	}
}

// writeMany records a run of n mapped children, emitting them over a few
// hundred milliseconds so that the two writers' flushes interleave.
func writeMany(path, id string, n int) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: id, Flow: "F"}, FlushEvery: 5 * time.Millisecond})
	seq := uint64(0)
	emit := func(e runtime.Event) {
		seq++
		e.Seq, e.Time, e.RunID = seq, time.Now(), id
		r.Emit(e)
	}
	emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "F", MapIndex: -1})
	for i := range n {
		name := fmt.Sprintf("sq[%d]", i)
		emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, MapIndex: i, Attempt: 1, State: runtime.Running})
		emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, MapIndex: i, Attempt: 1, State: runtime.Success})
		if i%1000 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, MapIndex: -1})
	return r.Close()
}

// TestEmitDoesNotBlock holds the write lock of the database while a run
// emits events: Emit must return at once all the same.
func TestEmitDoesNotBlock(t *testing.T) {
	s, path := openTemp(t)
	r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "r", Flow: "F"}, FlushEvery: time.Millisecond})
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO runs (id, flow, file, file_sha256, state, started_at, pid) VALUES ('x', 'F', '', '', 'Success', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, e := range events("r", runtime.Success) {
		r.Emit(e)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Emit took %v while the database was locked", d)
	}
	time.Sleep(50 * time.Millisecond)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if run, _ := s.GetRun(context.Background(), "r"); run.State != runtime.Success {
		t.Errorf("run state %s after the lock was released, want Success", run.State)
	}
}

// TestEmitBackpressure holds the write lock of the database while a run
// logs far more than the queue holds: Emit must wait once the queue is
// full, not let it grow with the log, and every line must be written
// once the lock is released.
func TestEmitBackpressure(t *testing.T) {
	s, path := openTemp(t)
	r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "r", Flow: "F"}, FlushEvery: time.Millisecond})
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO runs (id, flow, file, file_sha256, state, started_at, pid) VALUES ('x', 'F', '', '', 'Success', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	const n = 3 * maxBlocks * blockSize
	line := strings.Repeat("x", 90)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Emit(runtime.Event{Seq: 1, Kind: runtime.FlowStarted, Msg: "F", MapIndex: -1, Node: runtime.NoNode})
		for i := range n {
			r.Emit(runtime.Event{Seq: uint64(i + 2), Kind: runtime.TaskLog, TaskRun: "a", MapIndex: -1, Node: runtime.NoNode,
				Attempt: 1, Level: runtime.Info, Msg: line, Time: time.Now()})
		}
		r.Emit(runtime.Event{Seq: n + 2, Kind: runtime.FlowFinished, State: runtime.Success, MapIndex: -1, Node: runtime.NoNode})
	}()
	select {
	case <-done:
		t.Fatalf("%d events were queued while the database was locked: the queue is not bounded", n)
	case <-time.After(500 * time.Millisecond):
	}
	r.q.mu.Lock()
	queued := r.q.queued + len(r.q.cur)
	r.q.mu.Unlock()
	if limit := (maxBlocks + 1) * blockSize; queued > limit {
		t.Errorf("%d events queued, want at most %d", queued, limit)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Logs(context.Background(), "r", LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	logs := 0
	for _, e := range evs {
		if e.Kind == runtime.TaskLog {
			logs++
		}
	}
	if logs != n {
		t.Errorf("%d log lines stored, want %d", logs, n)
	}
}

// spamRun is a run of one task, "spam", printing lines of about 100
// bytes, recorded as it goes.
type spamRun struct {
	r   *Recorder
	id  string
	seq uint64
}

// startSpam records the run's start through a recorder with opt.
func startSpam(s *Store, id string, opt RecorderOptions) *spamRun {
	opt.Run = RunInfo{ID: id, Flow: "F"}
	sr := &spamRun{r: s.NewRecorder(opt), id: id}
	sr.emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "F", MapIndex: -1})
	sr.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "spam", MapIndex: -1, Attempt: 1, State: runtime.Running})
	return sr
}

func (sr *spamRun) emit(e runtime.Event) {
	sr.seq++
	e.Seq, e.Time, e.RunID = sr.seq, time.Now(), sr.id
	if e.Node == 0 {
		e.Node = runtime.NoNode
	}
	sr.r.Emit(e)
}

// lines prints lines from to from+n-1, each starting with 10000000+i.
func (sr *spamRun) lines(from, n int) {
	line := strings.Repeat("x", 91)
	for i := from; i < from+n; i++ {
		sr.emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: "spam", MapIndex: -1, Attempt: 1, Level: runtime.Info,
			Msg: fmt.Sprintf("%d %s", 10000000+i, line)})
	}
}

// end records the task's and the run's success and closes the recorder.
func (sr *spamRun) end(t testing.TB) {
	t.Helper()
	sr.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "spam", MapIndex: -1, Attempt: 1, State: runtime.Success})
	sr.emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, MapIndex: -1})
	if err := sr.r.Close(); err != nil {
		t.Fatal(err)
	}
}

// logRun records a run of one task printing n lines of about 100 bytes.
func logRun(t testing.TB, s *Store, id string, n int, opt RecorderOptions) {
	t.Helper()
	sr := startSpam(s, id, opt)
	sr.lines(0, n)
	sr.end(t)
}

// logRunChunks records a run that logs rounds times perRound lines,
// each round in a chunk of its own at least: it waits for the round to be
// written before the next (how many chunks a run's writes make otherwise
// depends on how fast the store writes).
func logRunChunks(t testing.TB, s *Store, id string, rounds, perRound int) {
	t.Helper()
	sr := startSpam(s, id, RecorderOptions{FlushEvery: time.Millisecond})
	for round := range rounds {
		sr.lines(round*perRound, perRound)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			var last int64
			_ = s.db.QueryRow(`SELECT coalesce(max(seq), 0) FROM chunks WHERE run_id = ?`, id).Scan(&last)
			if last >= int64(sr.seq) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d not written in 10 s", round)
			}
		}
	}
	sr.end(t)
}

// TestLogsCompressed checks that a log is stored in a fraction of its
// size, and read back whole and in order.
func TestLogsCompressed(t *testing.T) { eachBackend(t, testLogsCompressed) }

func testLogsCompressed(t *testing.T, b backend) {
	s, _ := b.open(t)
	const n = 20000
	logRun(t, s, "r", n, RecorderOptions{})
	var stored int
	if err := s.db.QueryRow(`SELECT sum(length(logs) + length(logs_z)) FROM chunks WHERE run_id = 'r'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if raw := n * 100; stored > raw/4 {
		t.Errorf("%d bytes of log stored in %d bytes, want at most a quarter", raw, stored)
	}
	i := 0
	err := s.EachLog(context.Background(), "r", LogFilter{}, func(e *runtime.Event) error {
		if e.Kind == runtime.TaskLog {
			if want := fmt.Sprintf("%d ", 10000000+i); !strings.HasPrefix(e.Msg, want) {
				return fmt.Errorf("line %d: %q", i, e.Msg)
			}
			i++
		}
		return nil
	})
	if err != nil || i != n {
		t.Errorf("%d lines read back, %v; want %d", i, err, n)
	}
}

// TestLogsStopEarly checks that reading a log stops when fn fails or a
// chunk is damaged, with that error, and leaves nothing behind: the
// chunks are decoded on several goroutines, which end with the read.
func TestLogsStopEarly(t *testing.T) { eachBackend(t, testLogsStopEarly) }

func testLogsStopEarly(t *testing.T, b backend) {
	s, _ := b.open(t)
	logRunChunks(t, s, "r", 5, 4000)
	var chunks int
	if err := s.db.QueryRow(`SELECT count(*) FROM chunks WHERE run_id = 'r'`).Scan(&chunks); err != nil || chunks < 4 {
		t.Fatalf("%d chunks, %v; want several", chunks, err)
	}
	goroutines := goruntime.NumGoroutine()
	stop := errors.New("enough")
	for range 5 { // each read stopped early
		lines := 0
		err := s.EachLog(context.Background(), "r", LogFilter{}, func(e *runtime.Event) error {
			if lines++; lines == 1000 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || lines != 1000 {
			t.Fatalf("stopped after %d lines with %v, want 1000 and %v", lines, err, stop)
		}
	}
	if _, err := s.db.Exec(`UPDATE chunks SET logs_z = ? WHERE run_id = 'r' AND seq = (SELECT max(seq) FROM chunks WHERE run_id = 'r')`, []byte("not deflate")); err != nil {
		t.Fatal(err)
	}
	lines := 0
	err := s.EachLog(context.Background(), "r", LogFilter{}, func(*runtime.Event) error { lines++; return nil })
	if err == nil || !strings.Contains(err.Error(), "run r, chunk ") || lines == 0 {
		t.Errorf("a damaged last chunk: %d lines, then %v; want the lines before it, then its error", lines, err)
	}
	// The decoders end with the read: give them a moment to be counted.
	for deadline := time.Now().Add(5 * time.Second); goruntime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := goruntime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the reads, %d before", n, goroutines)
	}
}

// fullDisk makes every write that needs a new page of s fail as on a full
// disk (SQLITE_FULL): the limit is set on each of the connections s keeps.
func fullDisk(t *testing.T, s *Store) {
	t.Helper()
	const n = 4
	s.db.SetMaxOpenConns(n)
	s.db.SetMaxIdleConns(n)
	var pages int
	if err := s.db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	var conns []*sql.Conn
	for range n {
		c, err := s.db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
}

// bigLogs are log lines that do not compress: they need new pages.
func bigLogs(seq uint64, n int, t0 time.Time) []runtime.Event {
	var evs []runtime.Event
	for i := range n {
		rnd := rand.New(rand.NewPCG(seq, uint64(i)))
		b := make([]byte, 8<<10)
		for j := range b {
			b[j] = byte('a' + rnd.IntN(26))
		}
		evs = append(evs, runtime.Event{Seq: seq + uint64(i), Time: t0.Add(time.Duration(i+1) * time.Second), Kind: runtime.TaskLog, TaskRun: "a",
			MapIndex: -1, Node: runtime.NoNode, Attempt: 1, Level: runtime.Info, Msg: string(b)})
	}
	return evs
}

// TestFullDiskSaysWhatWasKept checks the recorder's error on a full disk:
// "not recorded" when nothing was, and the time it was recorded up to
// when the first writes went through.
func TestFullDiskSaysWhatWasKept(t *testing.T) {
	t.Run("nothing", func(t *testing.T) {
		s, _ := openTemp(t)
		fullDisk(t, s)
		evs := bigLogs(1, 200, time.Now()) // made before: the first write takes them all
		r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "r", Flow: "F"}, FlushEvery: time.Minute})
		for _, e := range evs {
			r.Emit(e)
		}
		err := r.Close()
		if err == nil || !strings.Contains(err.Error(), "full") || !strings.HasSuffix(err.Error(), "(the run was not recorded)") {
			t.Fatalf("Close: %v; want a full disk, and the run not recorded", err)
		}
		if _, err := s.GetRun(context.Background(), "r"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetRun: %v, want not found", err)
		}
	})
	t.Run("part", func(t *testing.T) {
		s, _ := openTemp(t)
		r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: "r", Flow: "F"}, FlushEvery: time.Millisecond})
		first := time.Date(2020, 11, 29, 10, 47, 10, 0, time.UTC)
		r.Emit(runtime.Event{Seq: 1, Time: first, Kind: runtime.FlowStarted, Msg: "F", MapIndex: -1, Node: runtime.NoNode})
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := s.GetRun(context.Background(), "r"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the run was not inserted in 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		evs := bigLogs(2, 200, first)
		fullDisk(t, s)
		for _, e := range evs {
			r.Emit(e)
		}
		err := r.Close()
		if err == nil || !strings.Contains(err.Error(), "full") {
			t.Fatalf("Close: %v; want a full disk", err)
		}
		// The pages the database had free may take a chunk or two of the
		// logs: the message names the time of the last event kept, which
		// is the first one or a log line, never all of them.
		kept, err2 := s.Logs(context.Background(), "r", LogFilter{})
		if err2 != nil {
			t.Fatal(err2)
		}
		last := first
		for _, e := range kept {
			if e.Time.After(last) {
				last = e.Time
			}
		}
		if len(kept) > len(evs) {
			t.Errorf("%d events kept of %d written on a full disk, want fewer", len(kept), len(evs)+1)
		}
		want := "(the run was recorded only up to " + last.Local().Format("2006-01-02 15:04:05.000-0700") + ")"
		if !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("Close: %v; want it to end %s", err, want)
		}
	})
}

// TestLogLimit records a run that logs past its limit: the lines up to it
// are stored, then one line says the log was truncated, then no more log
// lines, but the task's and the flow's ends are there.
func TestLogLimit(t *testing.T) { eachBackend(t, testLogLimit) }

func testLogLimit(t *testing.T, b backend) {
	s, _ := b.open(t)
	const limit = 10000
	logRun(t, s, "r", 1000, RecorderOptions{LogLimit: limit})
	evs, err := s.Logs(context.Background(), "r", LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var lines, bytes int
	var marker []runtime.Event
	for _, e := range evs {
		if e.Kind != runtime.TaskLog {
			continue
		}
		if strings.HasPrefix(e.Msg, "log truncated") {
			marker = append(marker, e)
			continue
		}
		if len(marker) > 0 {
			t.Fatalf("a line after the truncation marker: %q", e.Msg)
		}
		lines++
		bytes += len(e.Msg)
	}
	if lines != limit/100 || bytes > limit {
		t.Errorf("%d lines, %d bytes stored; want %d lines, at most %d bytes", lines, bytes, limit/100, limit)
	}
	if len(marker) != 1 || marker[0].Msg != TruncatedMsg(limit) || marker[0].Level != runtime.Warning || marker[0].TaskRun != "spam" {
		t.Fatalf("truncation markers: %+v, want one warning of task spam", marker)
	}
	last := evs[len(evs)-2:]
	if last[0].Kind != runtime.TaskState || last[0].State != runtime.Success || last[1].Kind != runtime.FlowFinished {
		t.Errorf("the log ends %+v, want the task's end and the flow's", last)
	}
	// Without a limit, every line is stored.
	logRun(t, s, "all", 1000, RecorderOptions{LogLimit: -1})
	evs, _ = s.Logs(context.Background(), "all", LogFilter{})
	if n := len(evs); n != 1000+4 {
		t.Errorf("%d entries without a limit, want %d", n, 1004)
	}
}

// TestPrune prunes a store holding an old run, an old run still going on
// and a new run, with cache entries expired and not.
func TestPrune(t *testing.T) { eachBackend(t, testPrune) }

func testPrune(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	g := layerGraph(3)
	recordRun(t, s, "old", "F", events("old", runtime.Success), RecorderOptions{Graph: g})
	recordRun(t, s, "old-running", "F", events("old-running", runtime.Success)[:3], RecorderOptions{})
	recordRun(t, s, "new", "F", events("new", runtime.Failed), RecorderOptions{})
	now := time.Now()
	old := now.Add(-40 * 24 * time.Hour).UnixNano()
	if _, err := s.db.Exec(`UPDATE runs SET started_at = ? WHERE id LIKE 'old%'`, old); err != nil {
		t.Fatal(err)
	}
	tx, _ := s.db.Begin()
	if err := putCache(tx, []CacheEntry{
		{Key: "gone", Task: "a", Flow: "F", RunID: "old", TaskRun: "a", Result: []byte("1"), Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)},
		{Key: "kept", Task: "a", Flow: "F", RunID: "old", TaskRun: "a", Result: []byte("2"), Created: now, Expires: now.Add(time.Hour)},
		{Key: "forever", Task: "a", Flow: "F", RunID: "old", TaskRun: "a", Result: []byte("3"), Created: now},
	}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	p, err := s.Prune(ctx, now.Add(-30*24*time.Hour), now)
	if err != nil || p != (Pruned{Runs: 1, Cache: 1}) {
		t.Fatalf("Prune: %+v, %v; want 1 run and 1 cache entry", p, err)
	}
	runs, _ := s.ListRuns(ctx, RunFilter{})
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if slices.Sort(ids); strings.Join(ids, " ") != "new old-running" {
		t.Errorf("runs left: %v, want new and old-running", ids)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM chunks WHERE run_id = 'old'`: 0,
		`SELECT count(*) FROM chunks WHERE run_id = 'new'`: 1,
		`SELECT count(*) FROM dags`:                        0,
		`SELECT count(*) FROM cache`:                       2,
	} {
		var n int
		if err := s.db.QueryRow(q).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d, %v; want %d", q, n, err, want)
		}
	}
	if err := s.Vacuum(ctx); err != nil {
		t.Errorf("Vacuum: %v", err)
	}
	if err := s.IntegrityCheck(ctx); (err != nil) != (b == onPostgres) {
		t.Errorf("IntegrityCheck: %v", err)
	}
}
