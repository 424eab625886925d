//go:build linux

package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
)

// These tests end a run the hard ways, the ones that leave no time to
// clean up (kill -9 of wfsh, of its plugin) or that reach every process
// of wfsh's group at once (SIGTERM, as `timeout` sends it), and check by
// PID that nothing of the shell task is left: not bash, not its child,
// not its grandchild, not the plugin. They need Linux: what keeps a
// command from outliving a killed parent is Linux's parent-death signal
// and child subreaper.

// orphanFlow's task starts a subshell in the background whose own child
// is the grandchild, then writes bash's $$ (its process group too), the
// subshell's PID and the grandchild's to pids, and waits.
const orphanFlow = `
load("@shell", "shell_task")

spin = shell_task(name="spin",
    command="(sleep 300 & echo $! > grandchild; wait) & " +
        "while [ ! -s grandchild ]; do sleep 0.01; done; " +
        "echo $$ $! $(cat grandchild) > pids; echo spinning; sleep 300; echo never")

@task
def report(x):
    print("never")

@flow(name="Orphans")
def f():
    report(spin())
`

// shellTree is what a run of orphanFlow started: the plugin, bash, bash's
// child and grandchild.
type shellTree struct {
	plugin, bash, child, grandchild int
}

func (s shellTree) pids() []int { return []int{s.bash, s.child, s.grandchild, s.plugin} }

// startOrphanFlow starts wfsh on orphanFlow, with a store of its own (not
// the one $WFSH_HOME names, which test binaries of other versions share),
// and returns once the task has written its PIDs, with the plugin's
// (bash's parent).
func startOrphanFlow(t *testing.T) (*wfshProc, shellTree) {
	t.Helper()
	p := startWfshArgs(t, "", orphanFlow, "run", "--store", "wfsh.db", "flow.star")
	p.waitStarted(t)
	b, err := os.ReadFile(filepath.Join(p.cmd.Dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	var pids []int
	for _, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 1 {
			t.Fatalf("pids holds %q, want three PIDs", b)
		}
		pids = append(pids, n)
	}
	if len(pids) != 3 {
		t.Fatalf("pids holds %q, want three PIDs", b)
	}
	tree := shellTree{bash: pids[0], child: pids[1], grandchild: pids[2], plugin: parentOf(t, pids[0])}
	t.Cleanup(func() {
		for _, pid := range tree.pids() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-tree.bash, syscall.SIGKILL)
	})
	for _, pid := range tree.pids() {
		if !proctest.Running(pid) {
			t.Fatalf("pid %d of %+v is not running before the test", pid, tree)
		}
	}
	if parentOf(t, tree.plugin) != p.cmd.Process.Pid {
		t.Fatalf("bash's parent %d is not a child of wfsh (%d)", tree.plugin, p.cmd.Process.Pid)
	}
	return p, tree
}

// parentOf reads pid's parent from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return ppid
}

// checkTreeGone checks that within 5s no process of tree is running, nor
// any member of bash's process group.
func checkTreeGone(t *testing.T, tree shellTree, after string) {
	t.Helper()
	proctest.CheckGone(t, []int{tree.bash, tree.child, tree.grandchild, tree.plugin}, 5*time.Second, after)
}

// TestKill9LeavesNoOrphan: kill -9 of wfsh alone. The plugin gets its
// parent-death signal and ends its command's process group before it
// exits.
func TestKill9LeavesNoOrphan(t *testing.T) {
	p, tree := startOrphanFlow(t)
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	checkTreeGone(t, tree, "kill -9 of wfsh")
	// The plugin was in wfsh's group.
	proctest.CheckGone(t, []int{p.cmd.Process.Pid}, 5*time.Second, "kill -9 of wfsh")
}

// TestTermGroupLeavesNoOrphan: SIGTERM to wfsh's whole process group, as
// `timeout 60 wfsh run ...` sends it, reaches the plugin as well as wfsh
// (not bash, in a group of its own). The run ends Cancelled, exit 130,
// and the plugin ends bash's group before it exits.
func TestTermGroupLeavesNoOrphan(t *testing.T) {
	p, tree := startOrphanFlow(t)
	sent := time.Now()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wantCancelled(t, sent)
	checkTreeGone(t, tree, "SIGTERM to wfsh's group")
	p.checkNoProcessLeft(t)
}

// TestPluginKilledLeavesNoOrphan: kill -9 of the plugin in the middle of
// the call. bash gets its parent-death signal; its children, orphaned, go
// to wfsh (a child subreaper), which ends them. The task fails saying the
// plugin crashed, and the run goes on to its end.
func TestPluginKilledLeavesNoOrphan(t *testing.T) {
	p, tree := startOrphanFlow(t)
	if err := syscall.Kill(tree.plugin, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Everything of the call goes while wfsh still runs, not only at its
	// exit.
	proctest.CheckGone(t, []int{tree.bash, tree.child, tree.grandchild}, 5*time.Second, "kill -9 of the plugin")
	code := p.wait(t, 10*time.Second)
	out := p.output()
	if code != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", code, out)
	}
	wantAll(t, out,
		"plugin shell crashed during run",
		"Task 'spin': Finished task run for task with final state: 'Failed'",
		"Flow run FAILED",
	)
	checkTreeGone(t, tree, "wfsh exited")
	p.checkNoProcessLeft(t)
}

// TestHupGroupLeavesNoOrphan: SIGHUP to wfsh's whole process group, as a
// closing terminal sends it, kills wfsh (it does not catch it); the
// plugin, which caught it, ends bash's group once wfsh is gone.
func TestHupGroupLeavesNoOrphan(t *testing.T) {
	p, tree := startOrphanFlow(t)
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	checkTreeGone(t, tree, "SIGHUP to wfsh's group")
	// The plugin, in wfsh's group, may be left a zombie for init to reap.
	proctest.CheckGone(t, []int{p.cmd.Process.Pid}, 5*time.Second, "SIGHUP to wfsh's group")
}

// TestNohupIgnoresHup: under nohup (SIGHUP ignored, which wfsh and its
// plugin inherit) SIGHUP to the group ends nothing: the plugin, which
// catches SIGHUP otherwise, leaves it ignored too. An interrupt then ends
// everything as usual.
func TestNohupIgnoresHup(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	p, tree := startOrphanFlow(t)
	signal.Reset(syscall.SIGHUP)
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past the plugin's 2 s of grace
	for _, pid := range []int{p.cmd.Process.Pid, tree.plugin, tree.bash, tree.grandchild} {
		if !proctest.Running(pid) {
			t.Fatalf("pid %d of wfsh %d, %+v ended after SIGHUP under nohup", pid, p.cmd.Process.Pid, tree)
		}
	}
	sent := time.Now()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.wantCancelled(t, sent)
	checkTreeGone(t, tree, "SIGINT to wfsh's group")
	p.checkNoProcessLeft(t)
}
