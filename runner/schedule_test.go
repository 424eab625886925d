package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
	"github.com/wfsh/wfsh/store"
)

const stampSrc = `
@task
def stamp():
    return " ".join([context.today_nodash, context.yesterday, context.scheduled_start_time])

@flow(name="Stamp", schedule=interval("1d", timezone="Asia/Tokyo"))
def f():
    stamp()
`

// TestScheduledRun prepares a run scheduled at 2026-03-27 00:30 in Tokyo
// (still the 26th in UTC): its context is the scheduled day in the
// schedule's zone, the store keeps its schedule, and a second run of the
// same key is refused before it runs, as is a skipped one.
func TestScheduledRun(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenStore(filepath.Join(dir, "wfsh.db"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, st)
	path := filepath.Join(dir, "stamp.star")
	if err := os.WriteFile(path, []byte(stampSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	fl, err := r.Load(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	at := time.Date(2026, 3, 27, 0, 30, 0, 0, tokyo)
	sched := &store.Scheduled{At: at, ScheduleID: "interval-x", Key: "sched/Stamp/interval-x/2026-03-26T15:30:00Z", Late: true}
	run, err := r.Prepare(ctx, fl, Request{Scheduled: sched})
	if err != nil {
		t.Fatal(err)
	}
	if res := run.Execute(ctx, &runtimetest.Recorder{}); res.State != runtime.Success {
		t.Fatalf("run: %v", res.State)
	}
	_, err = r.Prepare(ctx, fl, Request{Scheduled: sched})
	if !errors.Is(err, store.ErrKeyTaken) {
		t.Fatalf("second run of the key: %v; want ErrKeyTaken", err)
	}
	if _, err := r.RecordSkipped(fl, Request{Scheduled: sched}, "skipped"); !errors.Is(err, store.ErrKeyTaken) {
		t.Fatalf("skipping the key: %v; want ErrKeyTaken", err)
	}
	s, err := st.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, run.ID)
	if err != nil || got.Scheduled == nil || got.Scheduled.Key != sched.Key || !got.Scheduled.At.Equal(at) || !got.Scheduled.Late {
		t.Fatalf("recorded run: %+v %+v, %v", got, got.Scheduled, err)
	}
	trs, err := s.TaskRuns(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := `"20260327 2026-03-26 2026-03-27T00:30:00+09:00"`
	found := false
	for _, tr := range trs {
		if tr.Name == "stamp" {
			found = true
			if string(tr.Result) != want {
				t.Errorf("stamp = %s, want %s", tr.Result, want)
			}
		}
	}
	if !found {
		t.Errorf("no task run stamp in %+v", trs)
	}
}
