// Package procs marks the processes wfsh starts (plugins, the commands
// they run) with the wfsh process they belong to, and finds them in /proc
// once that wfsh is gone.
package procs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HostEnv is the environment variable that marks every process wfsh
// starts, and what they start in turn (plugins, shell commands and their
// children), with the wfsh process they belong to: "PID:START", wfsh's PID
// and when it started (Unix nanoseconds). Leftovers finds them by it.
const HostEnv = "WFSH_HOST"

// started is when this process started, near enough: before any run.
var started = time.Now()

var markOnce sync.Once

// Mark sets HostEnv in wfsh's own environment, which the plugins
// it starts inherit (a value inherited from an outer wfsh, when wfsh runs
// in a shell task, is replaced).
func Mark() {
	markOnce.Do(func() {
		_ = os.Setenv(HostEnv, fmt.Sprintf("%d:%d", os.Getpid(), started.UnixNano()))
	})
}

// belongs reports whether a HostEnv value names the wfsh process that ran
// as pid and had started by runStart. A later wfsh given the same PID
// started after that one died, so after runStart.
func belongs(value string, pid int, runStart time.Time) bool {
	p, t, ok := strings.Cut(value, ":")
	if !ok {
		return false
	}
	n, err1 := strconv.Atoi(p)
	ns, err2 := strconv.ParseInt(t, 10, 64)
	return err1 == nil && err2 == nil && n == pid && ns <= runStart.UnixNano()
}

// Leftovers lists the processes still running that were started for the
// wfsh process that ran as pid and started a run at runStart: its plugins,
// the commands they ran, their children. wfsh makes sure none outlives
// it, but a kill -9 of wfsh's whole process group leaves no one to end a
// command's children. It waits up to wait for them to go (a plugin whose
// wfsh was killed takes a few milliseconds to end its commands) and
// returns those still there. Only Linux tells (by /proc); elsewhere the
// list is empty.
func Leftovers(pid int, runStart time.Time, wait time.Duration) []int {
	deadline := time.Now().Add(wait)
	for {
		left := leftovers(pid, runStart)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leftoverWait is how long RefuseLeftovers gives a run's processes to end.
const leftoverWait = 3 * time.Second

// RefuseLeftovers returns an error naming the processes of the wfsh
// process that ran as pid and started a run at runStart that are still
// running (see Leftovers), or nil when there are none: a run resumed
// beside them would run its tasks a second time while the first ones go
// on.
func RefuseLeftovers(pid int, runStart time.Time) error {
	left := Leftovers(pid, runStart, leftoverWait)
	if len(left) == 0 {
		return nil
	}
	names := make([]string, len(left))
	ids := make([]string, len(left))
	for i, p := range left {
		ids[i] = strconv.Itoa(p)
		names[i] = "pid " + ids[i]
		if c := commOf(p); c != "" {
			names[i] += " (" + c + ")"
		}
	}
	return fmt.Errorf("processes that run started are still running: %s; end them (kill %s) before resuming it",
		strings.Join(names, ", "), strings.Join(ids, " "))
}
