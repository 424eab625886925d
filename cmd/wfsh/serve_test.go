//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// tickFlow runs every second; a missed time is missed 1 s after it, and
// then Late, so that a restart exercises catchup="all".
const tickFlow = `
@task
def stamp():
    print("tick " + context.scheduled_start_time)

@flow(name="Tick", schedule=interval("1s"), catchup="all", late_after="1s")
def tick():
    stamp()
`

type serveProc struct {
	cmd *exec.Cmd
	out proctest.Buffer // read while the process writes to it
}

func startServe(t *testing.T, bin, dir, db string, files ...string) *serveProc {
	t.Helper()
	if len(files) == 0 {
		files = []string{"tick.star"}
	}
	p := &serveProc{cmd: exec.Command(bin, append([]string{"serve", "--store", db}, files...)...)}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			_ = p.cmd.Wait()
		}
	})
	return p
}

// interrupt sends SIGINT and checks that serve exits 130.
func (p *serveProc) interrupt(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("wfsh serve after SIGINT: %v, want exit status 130\n%s", err, p.out.String())
	}
}

// scheduledRuns are the runs of the store that a schedule made, by
// scheduled time; it fails the test if one time has two runs.
func scheduledRuns(t *testing.T, bin, db string) []store.Run {
	t.Helper()
	var runs []store.Run
	seen := map[time.Time]string{}
	for _, r := range runsJSON(t, bin, db) {
		if r.Scheduled == nil {
			t.Fatalf("run %s has no scheduled time", r.ID)
		}
		if other, ok := seen[r.Scheduled.At]; ok {
			t.Fatalf("scheduled time %s ran twice: runs %s and %s", r.Scheduled.At, other, r.ID)
		}
		seen[r.Scheduled.At] = r.ID
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Scheduled.At.Before(runs[j].Scheduled.At) })
	return runs
}

// checkNoneMissing fails if a second between the first and the last
// scheduled time has no run.
func checkNoneMissing(t *testing.T, runs []store.Run) {
	t.Helper()
	if len(runs) < 2 {
		t.Fatalf("%d scheduled runs, want several", len(runs))
	}
	for i := 1; i < len(runs); i++ {
		if d := runs[i].Scheduled.At.Sub(runs[i-1].Scheduled.At); d != time.Second {
			t.Errorf("scheduled times %s and %s are %s apart: a time is missing",
				runs[i-1].Scheduled.At.Format(time.RFC3339), runs[i].Scheduled.At.Format(time.RFC3339), d)
		}
	}
}

func tickDir(t *testing.T) (dir, db string) {
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tick.star"), []byte(tickFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "wfsh.db")
}

// TestServe runs `wfsh serve` of a flow on a one-second interval: runs
// start on time; killed with SIGKILL and started again, it runs every
// time it missed, once; two of them on one store run each time once.
func TestServe(t *testing.T) {
	bin := wfshBinary(t)

	t.Run("on time", func(t *testing.T) {
		dir, db := tickDir(t)
		p := startServe(t, bin, dir, db)
		time.Sleep(4500 * time.Millisecond)
		p.interrupt(t)
		runs := scheduledRuns(t, bin, db)
		if len(runs) < 3 {
			t.Fatalf("%d runs in 4.5 s of a one-second schedule\n%s", len(runs), p.out.String())
		}
		checkNoneMissing(t, runs)
		var worst time.Duration
		for _, r := range runs {
			lag := r.StartedAt.Sub(r.Scheduled.At)
			worst = max(worst, lag)
			if lag < 0 || lag > 500*time.Millisecond {
				t.Errorf("run %s for %s started %s after its time", r.ID, r.Scheduled.At.Format(time.RFC3339), lag)
			}
			if r.State != runtime.Success || r.Scheduled.Late {
				t.Errorf("run %s: %s, late %v", r.ID, r.State, r.Scheduled.Late)
			}
			if !strings.Contains(p.out.String(), "tick "+r.Scheduled.At.Format(time.RFC3339)) {
				t.Errorf("the log has no line of the run for %s", r.Scheduled.At.Format(time.RFC3339))
			}
		}
		t.Logf("%d runs, the latest start %s after its time", len(runs), worst)
	})

	t.Run("kill and restart", func(t *testing.T) {
		dir, db := tickDir(t)
		p := startServe(t, bin, dir, db)
		time.Sleep(2500 * time.Millisecond)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Wait()
		before := scheduledRuns(t, bin, db)
		time.Sleep(3 * time.Second) // three times or so are missed
		p2 := startServe(t, bin, dir, db)
		time.Sleep(2500 * time.Millisecond)
		p2.interrupt(t)
		runs := scheduledRuns(t, bin, db)
		checkNoneMissing(t, runs)
		if len(runs) < len(before)+4 {
			t.Fatalf("%d runs before the kill, %d after the restart\n%s", len(before), len(runs), p2.out.String())
		}
		late := 0
		for _, r := range runs {
			if r.Scheduled.Late {
				late++
			}
		}
		if late == 0 {
			t.Errorf("no run of the times missed during the outage is Late\n%s", p2.out.String())
		}
		t.Logf("%d runs before the kill, %d in all, %d Late", len(before), len(runs), late)
	})

	t.Run("interrupt", func(t *testing.T) {
		dir, db := tickDir(t)
		slow := "@task\ndef spin():\n    x = 0\n    for j in range(100000000):\n        x += j\n\n" +
			"@flow(name=\"Spin\", schedule=interval(\"1s\"))\ndef f():\n    spin()\n"
		if err := os.WriteFile(filepath.Join(dir, "spin.star"), []byte(slow), 0o644); err != nil {
			t.Fatal(err)
		}
		p := startServe(t, bin, dir, db, "spin.star")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.out.String(), "Beginning Flow run") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		p.interrupt(t)
		runs := runsJSON(t, bin, db)
		cancelled := 0
		for _, r := range runs {
			switch r.State {
			case runtime.Cancelled:
				cancelled++
			case runtime.Success:
			default:
				t.Errorf("run %s for %s is %s after SIGINT", r.ID, r.Scheduled.At, r.State)
			}
		}
		if cancelled == 0 {
			t.Errorf("no run recorded Cancelled: %+v\n%s", runs, p.out.String())
		}
	})

	t.Run("tui without a terminal", func(t *testing.T) {
		dir, db := tickDir(t)
		p := startServe(t, bin, dir, db, "--tui", "tick.star")
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(p.out.String(), "ended Success") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		p.interrupt(t)
		out := p.out.String()
		if !strings.Contains(out, "wfsh serve: --tui: standard output is not a terminal; printing log lines instead") ||
			!strings.Contains(out, "INFO - wfsh.Scheduler | Flow 'Tick'") || !strings.Contains(out, "tick ") {
			t.Errorf("wfsh serve --tui into a pipe: no note, or no log lines:\n%s", out)
		}
	})

	t.Run("two schedulers", func(t *testing.T) {
		dir, db := tickDir(t)
		a := startServe(t, bin, dir, db)
		b := startServe(t, bin, dir, db)
		time.Sleep(4500 * time.Millisecond)
		a.interrupt(t)
		b.interrupt(t)
		runs := scheduledRuns(t, bin, db)
		checkNoneMissing(t, runs)
		taken := strings.Count(a.out.String()+b.out.String(), "was made by another scheduler")
		if taken == 0 {
			t.Errorf("neither scheduler found a time taken by the other\n%s\n%s", a.out.String(), b.out.String())
		}
		t.Logf("%d runs, %d times found taken", len(runs), taken)
	})
}
