package host

import (
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/wfsh/wfsh/plugins/internal/pdeath"
	"github.com/wfsh/wfsh/plugins/procs"
)

// dieWithParent has the kernel send the plugin SIGTERM when wfsh dies, even
// by SIGKILL, so that no plugin outlives the run that started it. SIGTERM,
// not SIGKILL: the plugin ends its calls, and the processes they started,
// before it exits (a plugin that does not catch it dies of it). Start cmd
// with pdeath.Do.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	pdeath.Set(cmd.SysProcAttr, syscall.SIGTERM)
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

var subreaperOnce sync.Once

// becomeSubreaper makes wfsh a child subreaper: a process whose parent
// dies under a plugin (a shell command's child, when the plugin was
// killed and bash with it) becomes wfsh's child, not init's, so that
// sweep finds and ends it.
func becomeSubreaper() {
	subreaperOnce.Do(func() {
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	})
}

// sweepWait bounds how long sweep waits for what it killed to go.
const sweepWait = time.Second

// sweep kills and reaps what plugins left behind: wfsh's children that are
// neither a plugin in plugins (by PID) nor in wfsh's own process group (as
// plugins and the commands wfsh runs itself are), with their process
// groups. A group whose leader is a live child of a live plugin is left
// alone: it is a call's command, still running (its orphans come to wfsh
// too). Killing a process orphans its children, which come to wfsh in
// turn, so sweep goes on until it finds no such child, or sweepWait has
// passed.
func sweep(plugins map[int]bool) {
	self, own := os.Getpid(), syscall.Getpgrp()
	deadline := time.Now().Add(sweepWait)
	for {
		found := false
		for _, c := range children(self) {
			if plugins[c.PID] || c.Pgrp == own || c.State != "Z" && liveCall(c.Pgrp, plugins) {
				continue
			}
			found = true
			if c.State != "Z" {
				_ = syscall.Kill(-c.Pgrp, syscall.SIGKILL)
				_ = syscall.Kill(c.PID, syscall.SIGKILL)
			}
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(c.PID, &ws, syscall.WNOHANG, nil)
		}
		if !found || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liveCall reports whether process group pgrp's leader is running, a
// child of one of plugins.
func liveCall(pgrp int, plugins map[int]bool) bool {
	st, ok := procs.ReadStat(pgrp)
	return ok && st.State != "Z" && plugins[st.PPID]
}

// children lists the children of pid, from /proc.
func children(pid int) []procs.Stat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procs.Stat
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procs.ReadStat(n); ok && st.PPID == pid {
			out = append(out, st)
		}
	}
	return out
}
