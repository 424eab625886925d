package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

func scheduledInfo(id string, at time.Time) RunInfo {
	return RunInfo{ID: id, Flow: "F", File: "f.star", FileSHA256: "abc",
		Scheduled: Scheduled{At: at, ScheduleID: "interval-1", Key: "sched/F/interval-1/" + at.UTC().Format(time.RFC3339)}}
}

// TestMigrateFromV3 opens a store of schema version 3 with a run in it,
// and checks that the run reads back as unscheduled and that scheduled
// runs can then be claimed.
func TestMigrateFromV3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wfsh.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], migrations[1], migrations[2],
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version VALUES (3)`,
		`INSERT INTO runs (id, flow, file, file_sha256, state, message, started_at, finished_at, pid)
			VALUES ('old', 'F', 'f.star', 'abc', 'Success', '', 1000000, 9000000, 1),
			('old2', 'F', 'f.star', 'abc', 'Success', '', 2000000, 9000000, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d, %v; want %d", v, err, SchemaVersion)
	}
	r, err := s.GetRun(ctx, "old")
	if err != nil || r.Scheduled != nil || r.State != runtime.Success {
		t.Fatalf("old run: %+v, %v", r, err)
	}
	at := time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC)
	if err := s.ClaimRun(scheduledInfo("new", at)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LastScheduled(ctx, "F", "interval-1"); err != nil || !got.Equal(at) {
		t.Errorf("LastScheduled = %v, %v; want %v", got, err, at)
	}
}

// TestClaimRunKeyTaken claims the same scheduled time from two
// connections to one store file: the second is refused with ErrKeyTaken
// and leaves no row.
func TestClaimRunKeyTaken(t *testing.T) { eachBackend(t, testClaimRunKeyTaken) }

func testClaimRunKeyTaken(t *testing.T, b backend) {
	s, path := b.open(t)
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := context.Background()
	at := time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC)
	if err := s.ClaimRun(scheduledInfo("a", at)); err != nil {
		t.Fatal(err)
	}
	err = s2.ClaimRun(scheduledInfo("b", at))
	if !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("second claim: %v; want ErrKeyTaken", err)
	}
	if _, err := s.GetRun(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused run is in the store: %v", err)
	}
	err = s2.RecordSkipped(scheduledInfo("c", at), "skipped")
	if !errors.Is(err, ErrKeyTaken) {
		t.Errorf("skipping a taken time: %v; want ErrKeyTaken", err)
	}
	// Another time of the same schedule, and unscheduled runs, are free.
	if err := s2.RecordSkipped(scheduledInfo("d", at.Add(time.Second)), "skipped: the previous run still runs"); err != nil {
		t.Fatal(err)
	}
	recordRun(t, s, "u1", "F", events("u1", runtime.Success), RecorderOptions{})
	recordRun(t, s, "u2", "F", events("u2", runtime.Success), RecorderOptions{})
	d, err := s.GetRun(ctx, "d")
	if err != nil || d.State != runtime.Cancelled || d.FinishedAt.IsZero() || d.Scheduled == nil || !d.Scheduled.At.Equal(at.Add(time.Second)) {
		t.Errorf("skipped run: %+v %+v, %v", d, d.Scheduled, err)
	}
	if got, err := s.LastScheduled(ctx, "F", "interval-1"); err != nil || !got.Equal(at.Add(time.Second)) {
		t.Errorf("LastScheduled = %v, %v", got, err)
	}
	if got, err := s.LastScheduled(ctx, "F", "cron-2"); err != nil || !got.IsZero() {
		t.Errorf("LastScheduled of another schedule = %v, %v; want zero", got, err)
	}
}

// TestClaimedRecorder records a claimed run: the recorder completes the
// claimed row (no second insert) and the run keeps its schedule.
func TestClaimedRecorder(t *testing.T) { eachBackend(t, testClaimedRecorder) }

func testClaimedRecorder(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC)
	ri := scheduledInfo("r", at)
	ri.Scheduled.Late = true
	if err := s.ClaimRun(ri); err != nil {
		t.Fatal(err)
	}
	ri.Claimed = true
	recordRun(t, s, "r", "F", events("r", runtime.Success), RecorderOptions{Run: ri})
	r, err := s.GetRun(ctx, "r")
	if err != nil || r.State != runtime.Success || r.Scheduled == nil || !r.Scheduled.Late || r.Scheduled.Key != ri.Scheduled.Key {
		t.Fatalf("run: %+v %+v, %v", r, r.Scheduled, err)
	}
	trs, err := s.TaskRuns(ctx, "r")
	if err != nil || len(trs) == 0 {
		t.Errorf("task runs: %v, %v", trs, err)
	}
}
