//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// queueFlow runs every second with overlap="queue"; its first run sleeps
// until it is killed, so the times after it queue up. catchup="none":
// after a restart, only the queued times run of those before it, not the
// ones missed while nothing ran.
const queueFlow = `
load("@shell", "shell_task")

first_sleeps = shell_task(name="first_sleeps", command="[ -e slept ] || { touch slept; exec sleep 20; }")

@flow(name="Queue", schedule=interval("1s"), overlap="queue", catchup="none", late_after="30s")
def f():
    first_sleeps()
`

// TestServeQueueSurvivesKill kills `wfsh serve` with SIGKILL while runs
// of its flow are queued behind a long one, and starts it again: each
// queued time runs, once; the long one is Crashed; no time runs twice.
func TestServeQueueSurvivesKill(t *testing.T) {
	bin := wfshBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "wfsh.db")
	if err := os.WriteFile(filepath.Join(dir, "queue.star"), []byte(queueFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, bin, dir, db, "queue.star")
	var queued []store.Run
	deadline := time.Now().Add(20 * time.Second)
	for len(queued) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two runs queued in 20 s\n%s", p.out.String())
		}
		time.Sleep(200 * time.Millisecond)
		queued = queued[:0]
		for _, r := range scheduledRuns(t, bin, db) {
			if r.State == runtime.Pending {
				queued = append(queued, r)
			}
		}
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	// The queued runs are in the store, still Pending after the kill (a
	// command that opens the store marks Crashed the run that was
	// running, not them).
	after := map[string]store.Run{}
	for _, r := range scheduledRuns(t, bin, db) {
		after[r.ID] = r
	}
	for _, q := range queued {
		if r := after[q.ID]; r.State != runtime.Pending {
			t.Errorf("queued run %s for %s is %s after the kill, want Pending", q.ID, q.Scheduled.At, r.State)
		}
	}

	p2 := startServe(t, bin, dir, db, "queue.star")
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(p2.out.String(), "ended Success") || strings.Count(p2.out.String(), "was queued by a wfsh serve that has stopped") < len(queued) {
		if time.Now().After(deadline) {
			t.Fatalf("the queued runs did not run after the restart\n%s", p2.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // let the adopted runs end
	p2.interrupt(t)

	runs := scheduledRuns(t, bin, db) // fails on a time with two runs
	byID := map[string]store.Run{}
	crashed := 0
	for _, r := range runs {
		byID[r.ID] = r
		if r.State == runtime.Crashed {
			crashed++
		}
	}
	if crashed != 1 {
		t.Errorf("%d runs Crashed, want the one that ran at the kill", crashed)
	}
	for _, q := range queued {
		r := byID[q.ID]
		if r.State != runtime.Success {
			t.Errorf("queued run %s for %s ended %s after the restart, want Success\n%s", q.ID, q.Scheduled.At, r.State, p2.out.String())
		}
		if !r.StartedAt.After(q.StartedAt) {
			t.Errorf("queued run %s started at %s, not after it was queued (%s)", q.ID, r.StartedAt, q.StartedAt)
		}
		if n := strings.Count(p2.out.String(), "run "+q.ID[:8]+" for"); n == 0 {
			t.Errorf("the restarted scheduler does not say it ran %s\n%s", q.ID, p2.out.String())
		}
	}
	t.Logf("%d queued at the kill, %d runs in all", len(queued), len(runs))
}
