//go:build unix

// Package proctest helps tests prove that no process was left behind: by
// PID, and by process group, reading /proc where there is one.
package proctest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Running reports whether pid exists and is not a zombie.
func Running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false // ESRCH; EPERM would be somebody else's process, reused
	}
	st, ok := procStat(pid)
	return !ok || st.state != "Z"
}

type stat struct {
	state string
	pgrp  int
}

// procStat reads the state and process group of pid from /proc.
func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 3 {
		return stat{}, false
	}
	pgrp, _ := strconv.Atoi(f[2])
	return stat{state: f[0], pgrp: pgrp}, true
}

// GroupMembers lists the running (not zombie) processes of group pgid, by
// /proc where there is one, else by kill(-pgid, 0) (then [-1] stands for
// "some").
func GroupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		if syscall.Kill(-pgid, 0) == nil {
			return []int{-1}
		}
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok && st.pgrp == pgid && st.state != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// CheckGone checks that within d neither the processes pids nor any member
// of the process group pids[0] is running. Zombies count as gone: they only
// wait to be reaped, and in a container PID 1 may never reap them.
func CheckGone(t testing.TB, pids []int, d time.Duration, after string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var alive []string
		for _, pid := range pids {
			if Running(pid) {
				alive = append(alive, fmt.Sprintf("pid %d", pid))
			}
		}
		for _, pid := range GroupMembers(pids[0]) {
			alive = append(alive, fmt.Sprintf("pid %d of group %d", pid, pids[0]))
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("still running %v after %s: %s", d, after, strings.Join(alive, ", "))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
