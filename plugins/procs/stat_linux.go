//go:build linux

package procs

import (
	"os"
	"strconv"
	"strings"
)

// Stat is what /proc tells of a process.
type Stat struct {
	PID, PPID, Pgrp int
	State           string // "R", "S", "Z", ...
}

// ReadStat reads pid's state, parent and process group from /proc.
func ReadStat(pid int) (Stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 3 {
		return Stat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return Stat{}, false
	}
	return Stat{PID: pid, PPID: ppid, Pgrp: pgrp, State: f[0]}, true
}
