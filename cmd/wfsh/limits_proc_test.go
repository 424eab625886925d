//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/pgtest"
)

// limitedFlow runs n tasks tagged db, each a shell command that appends
// "START END" (Unix nanoseconds, measured by the command) to log.
const limitedFlow = `
load("@shell", "run")

@task(tags=["db"])
def query(i, log, secs):
    return run("s=$(date +%s%N); sleep " + secs + "; e=$(date +%s%N); echo \"$s $e\" >> " + log, stream_output=False)

@task
def items(n):
    return list(range(n))

@flow(limits={"db": 2})
def limited(log="", n=3, secs="0.3"):
    return query.map(items(n), log=unmapped(log), secs=unmapped(secs))
`

func limitedDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(limitedFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// spans reads the "START END" lines of log.
func spans(t *testing.T, log string) [][2]int64 {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]int64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("bad line %q in %s", line, log)
		}
		s, err1 := strconv.ParseInt(f[0], 10, 64)
		e, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || e < s {
			t.Fatalf("bad line %q in %s", line, log)
		}
		out = append(out, [2]int64{s, e})
	}
	return out
}

// mostAtOnce is the largest number of spans that overlap at one instant.
func mostAtOnce(spans [][2]int64) int {
	type edge struct {
		t     int64
		delta int
	}
	var edges []edge
	for _, s := range spans {
		edges = append(edges, edge{s[0], 1}, edge{s[1], -1})
	}
	// At equal times an end comes before a start: touching spans do
	// not overlap.
	slices.SortFunc(edges, func(a, b edge) int {
		if a.t != b.t {
			return int(min(max(a.t-b.t, -1), 1))
		}
		return a.delta - b.delta
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// TestLimitAcrossProcesses: four wfsh run processes share a store, each
// running three task runs tagged db under limits={"db": 2}: at no instant
// do more than two run, and two do at some instant. On SQLite and on
// PostgreSQL.
func TestLimitAcrossProcesses(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { limitAcrossProcesses(t, "") })
	t.Run("postgres", func(t *testing.T) { limitAcrossProcesses(t, pgtest.Start(t).NewDatabase(t)) })
}

func limitAcrossProcesses(t *testing.T, db string) {
	bin := wfshBinary(t)
	dir := limitedDir(t)
	if db == "" {
		db = filepath.Join(dir, "wfsh.db")
	}
	log := filepath.Join(dir, "spans.log")
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 4 {
		cmd := exec.Command(bin, "run", "--store", db, "flow.star", "-p", "log="+log)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "WFSH_HOME="+dir)
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	sp := spans(t, log)
	if len(sp) != 12 {
		t.Fatalf("%d task runs recorded, want 12", len(sp))
	}
	if n := mostAtOnce(sp); n != 2 {
		t.Errorf("at most %d db task runs at once, want 2: %v", n, sp)
	}
	waited := 0
	for _, out := range outs {
		waited += strings.Count(out.String(), "waiting for a slot of limit db (2 in use)")
	}
	if waited == 0 {
		t.Errorf("no task run said it waited for a slot:\n%s", outs[0])
	}
	out, err := exec.Command(bin, "limit", "ls", "--store", db).CombinedOutput()
	if err != nil || strings.Contains(string(out), "db") {
		t.Errorf("wfsh limit ls with no stored limit: %v\n%s", err, out)
	}
}

// TestLimitNoStore: wfsh run --no-store holds the flow's limits in the
// process: four db task runs, never more than two at once.
func TestLimitNoStore(t *testing.T) {
	dir := limitedDir(t)
	log := filepath.Join(dir, "spans.log")
	cmd := exec.Command(wfshBinary(t), "run", "--no-store", "flow.star", "-p", "log="+log, "-p", "n=4", "-p", "secs=0.2s")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "WFSH_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sp := spans(t, log)
	if len(sp) != 4 || mostAtOnce(sp) != 2 {
		t.Errorf("%d task runs, at most %d at once; want 4 and 2: %v", len(sp), mostAtOnce(sp), sp)
	}
	if !strings.Contains(string(out), "waiting for a slot of limit db (2 in use)") {
		t.Errorf("no task run said it waited:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "wfsh.db")); err == nil {
		t.Error("--no-store made a store")
	}
}

// TestLimitKilledHolder: with `wfsh limit set db 1`, a holder killed with
// SIGKILL in the middle of its task frees the slot when its lease (2 s)
// lapses, and the process waiting for it then runs.
func TestLimitKilledHolder(t *testing.T) {
	bin := wfshBinary(t)
	dir := limitedDir(t)
	db := filepath.Join(dir, "wfsh.db")
	env := append(os.Environ(), "WFSH_HOME="+dir, "WFSH_SLOT_LEASE=2s")
	if out, err := exec.Command(bin, "limit", "set", "db", "1", "--store", db).CombinedOutput(); err != nil {
		t.Fatalf("limit set: %v\n%s", err, out)
	}
	holderLog, waiterLog := filepath.Join(dir, "holder.log"), filepath.Join(dir, "waiter.log")
	holder := exec.Command(bin, "run", "--store", db, "flow.star", "-p", "log="+holderLog, "-p", "n=1", "-p", "secs=60s")
	holder.Dir, holder.Env = dir, env
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
	waitUsed(t, bin, db, "1")
	waiter := exec.Command(bin, "run", "--store", db, "flow.star", "-p", "log="+waiterLog, "-p", "n=1", "-p", "secs=0s")
	waiter.Dir, waiter.Env = dir, env
	out := &bytes.Buffer{}
	waiter.Stdout, waiter.Stderr = out, out
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	defer waiter.Process.Kill()
	time.Sleep(time.Second) // the waiter waits meanwhile
	killed := time.Now()
	if err := syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	holder.Wait()
	if err := waiter.Wait(); err != nil {
		t.Fatalf("waiter: %v\n%s", err, out)
	}
	sp := spans(t, waiterLog)
	if len(sp) != 1 {
		t.Fatalf("waiter ran %d task runs, want 1", len(sp))
	}
	// The holder renewed its lease at most 2/3 s before it died.
	after := time.Duration(sp[0][0] - killed.UnixNano())
	if after > 2*time.Second+time.Second {
		t.Errorf("the waiter started %v after the kill, want within the 2 s lease", after)
	}
	if !strings.Contains(out.String(), "waiting for a slot of limit db (1 in use)") {
		t.Errorf("the waiter did not say it waited:\n%s", out)
	}
	t.Logf("slot of the killed holder taken %v after the kill (lease 2s)", after)
}

// waitUsed waits until wfsh limit ls shows want slots of db in use.
func waitUsed(t *testing.T, bin, db, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(bin, "limit", "ls", "--store", db).CombinedOutput()
		if err != nil {
			t.Fatalf("limit ls: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "db" && f[2] == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("db never had %s slots in use:\n%s", want, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
