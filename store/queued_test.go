package store

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// deadPid is the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no process to take a dead pid from: %v", err)
	}
	return cmd.Process.Pid
}

// TestQueuedRun queues a run, checks that its scheduler keeps it while
// alive, that a store opened after the scheduler died does not crash it,
// that the next scheduler adopts it once and starts it once.
func TestQueuedRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wfsh.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC)
	ri := scheduledInfo("q1", at)
	if err := s.QueueRun(ri, "queued: waiting"); err != nil {
		t.Fatal(err)
	}
	if err := s.QueueRun(scheduledInfo("q2", at), "queued"); !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("a second run queued for the same time: %v, want ErrKeyTaken", err)
	}
	if got, err := s.AdoptQueued(ctx, "F", "interval-1"); err != nil || len(got) != 0 {
		t.Fatalf("this process adopted its own queued runs: %v, %v", got, err)
	}
	// Its scheduler dies.
	if _, err := s.db.Exec(`UPDATE runs SET pid = ? WHERE id = 'q1'`, deadPid(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.StartQueued(ri); !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("started a run queued by another process: %v, want ErrKeyTaken", err)
	}
	s2, err := Open(path) // marks Crashed the runs of dead processes
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, err := s2.GetRun(ctx, "q1"); err != nil || r.State != runtime.Pending {
		t.Fatalf("queued run after its scheduler died: %+v, %v; want Pending", r, err)
	}
	got, err := s2.AdoptQueued(ctx, "F", "interval-1")
	if err != nil || len(got) != 1 || got[0].ID != "q1" || !got[0].At.Equal(at) || got[0].Key != ri.Scheduled.Key {
		t.Fatalf("adopted %+v, %v; want q1 at %s", got, err, at)
	}
	if again, err := s2.AdoptQueued(ctx, "F", "interval-1"); err != nil || len(again) != 0 {
		t.Fatalf("adopted twice: %v, %v", again, err)
	}
	ri.Scheduled.Late = true
	if err := s2.StartQueued(ri); err != nil {
		t.Fatal(err)
	}
	r, err := s2.GetRun(ctx, "q1")
	if err != nil || r.State != runtime.Running || r.Scheduled == nil || !r.Scheduled.Late {
		t.Fatalf("started queued run: %+v, %v; want Running, Late", r, err)
	}
	if err := s2.StartQueued(ri); !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("started twice: %v, want ErrKeyTaken", err)
	}

	// A queued run that cannot start ends Failed, and is not taken over.
	q3 := scheduledInfo("q3", at.Add(time.Minute))
	if err := s2.QueueRun(q3, "queued"); err != nil {
		t.Fatal(err)
	}
	if err := s2.EndQueued("q3", runtime.Failed, "flow.star:3:1: does not build"); err != nil {
		t.Fatal(err)
	}
	r, err = s2.GetRun(ctx, "q3")
	if err != nil || r.State != runtime.Failed || r.Message != "flow.star:3:1: does not build" || r.FinishedAt.IsZero() {
		t.Fatalf("queued run ended: %+v, %v; want Failed with its message", r, err)
	}
	if err := s2.StartQueued(q3); !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("started an ended queued run: %v, want ErrKeyTaken", err)
	}
}
