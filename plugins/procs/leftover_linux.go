package procs

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// leftovers scans /proc for running processes whose environment, as they
// were started, holds HostEnv naming pid and a start by runStart.
// Processes of other users cannot be read and are not listed. While pid
// runs, there are none: a wfsh that lives (a REPL whose run has finished)
// keeps its plugins, and ends them itself.
func leftovers(pid int, runStart time.Time) []int {
	if st, ok := ReadStat(pid); ok && st.State != "Z" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	prefix := []byte(HostEnv + "=")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == self || n == pid {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, prefix); ok {
				if belongs(string(v), pid, runStart) {
					if st, ok := ReadStat(n); ok && st.State != "Z" {
						out = append(out, n)
					}
				}
				break
			}
		}
	}
	return out
}

// commOf returns pid's command name, or "".
func commOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}
