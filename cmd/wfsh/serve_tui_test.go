//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runtime"
)

// napFlow's runs start every second and each takes ten (a shell task):
// runs are in progress whenever the test looks. Its second schedule is
// far off, in another zone.
const napFlow = `
load("@shell", "shell_task")

nap = shell_task(name="nap", command="sleep 10 & echo $$ $! >> pids; echo napping; wait")

@task
def stamp():
    print("tick " + context.scheduled_start_time)

@flow(name="Nap", schedule=[interval("1s"), cron("0 9 * * *", timezone="Asia/Tokyo")], late_after="5s")
def f():
    stamp()
    nap()
`

// runRows are the rows of the runs in progress in the serve view.
var runRows = regexp.MustCompile(`(?m)^[› ] [0-9a-f]{8} Nap .* Running `)

// TestServeTUIInTerminal runs `wfsh serve --tui` in a real terminal
// (tmux): the screen lists the upcoming times in each schedule's zone and
// the runs in progress, tab selects another run; Ctrl-C then stops it as
// SIGINT does: exit status 130, the terminal given back with a summary,
// the runs in progress recorded Cancelled, nothing left running.
func TestServeTUIInTerminal(t *testing.T) {
	bin := buildWfsh(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nap.star"), []byte(napFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "wfsh.db")
	x := startTerm(t, dir, "sh -c 'echo $$ >wfsh.pid; exec "+bin+" serve --tui --store "+db+" nap.star'; echo $? >status")
	pid := waitPid(t, filepath.Join(dir, "wfsh.pid"))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	// The selected run's pane shows what its shell task printed.
	s := x.waitScreen("two runs in progress", func(s string) bool {
		return len(runRows.FindAllString(s, -1)) >= 2 && strings.Contains(s, "napping")
	})
	for _, want := range []string{"wfsh serve · 2 schedules", `interval("1s"`, `cron("0 9 * * *"`, " JST ", "Nap"} {
		if !strings.Contains(s, want) {
			t.Errorf("the screen lacks %q:\n%s", want, s)
		}
	}
	before := selected(s)
	x.keys("Tab")
	x.waitScreen("another run selected", func(s string) bool { return selected(s) != before && selected(s) != "" })

	x.keys("C-c")
	x.waitScreen("wfsh's exit", func(string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "status"))
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	b, _ := os.ReadFile(filepath.Join(dir, "status"))
	if code := strings.TrimSpace(string(b)); code != strconv.Itoa(exitInterrupted) {
		t.Errorf("wfsh serve exited %s after Ctrl-C, want %d", code, exitInterrupted)
	}
	if alt := x.run("display-message", "-p", "-t", "wfsh", "#{alternate_on}"); alt != "0" {
		t.Errorf("the terminal was left in the alternate screen (alternate_on=%s)", alt)
	}
	proctest.CheckGone(t, []int{pid}, 5*time.Second, "Ctrl-C")
	proctest.CheckGone(t, allPids(t, filepath.Join(dir, "pids")), 5*time.Second, "Ctrl-C")

	runs := scheduledRuns(t, bin, db)
	states := map[runtime.State]int{}
	for _, r := range runs {
		states[r.State]++
	}
	if states[runtime.Cancelled] < 2 || states[runtime.Cancelled] != len(runs) {
		t.Errorf("runs by state after Ctrl-C: %v; want every run Cancelled (each naps 10 s), at least two", states)
	}
	out := x.run("capture-pane", "-p", "-J", "-S", "-", "-t", "wfsh")
	if want := fmt.Sprintf("wfsh serve: interrupted; %d runs: %d Cancelled", len(runs), len(runs)); !strings.Contains(out, want) {
		t.Errorf("no %q after the view:\n%s", want, out)
	}
}

// allPids reads every PID the runs' shell tasks wrote to path.
func allPids(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 1 {
			t.Fatalf("%s holds %q, want PIDs", path, b)
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		t.Fatalf("no PID in %s: no shell task ran", path)
	}
	return pids
}
