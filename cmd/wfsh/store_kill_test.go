//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// slowFlow runs for about a second, logging as it goes; one task reads a
// secret and prints it (masked by the executor).
const slowFlow = `
@task
def leak():
    print("the secret is " + secret("WFSH_TEST_SECRET"))

@task
def work(i):
    x = 0
    for j in range(80000):
        x += j
    if i % 50 == 0:
        print("item %d" % i)
    return x

@flow(name="Slow")
def f():
    leak()
    work.map(list(range(300)))
`

const testSecret = "pa55-w0rd-Zq8xK"

// built is the wfsh executables the process tests share, as make build
// makes them (the light wfsh and wfsh-full beside it), built once by the
// first that asks (wfshBinary) and removed after the tests (TestMain).
var built struct {
	once sync.Once
	dir  string
	err  error
}

// wfshBinary builds wfsh for the process tests, once per test process,
// even with -short (unlike buildWfsh): the kill test runs 10 kills then.
// It is the light wfsh, which hands what it does not serve to wfsh-full.
func wfshBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "wfsh-test-bin-"); built.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		built.err = proctest.Build(ctx, map[string]string{
			filepath.Join(built.dir, "wfsh"):      "-tags=wfshlight ./cmd/wfsh",
			filepath.Join(built.dir, "wfsh-full"): "./cmd/wfsh"})
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return filepath.Join(built.dir, "wfsh")
}

func slowFlowDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(slowFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startRun(t *testing.T, bin, dir, db string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "run", "--store", db, "flow.star")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WFSH_TEST_SECRET="+testSecret)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	return cmd
}

// runsJSON lists every run of the store with `wfsh runs --json`.
func runsJSON(t *testing.T, bin, db string) []store.Run {
	t.Helper()
	out, err := exec.Command(bin, "runs", "--store", db, "--json", "--limit", "0").Output()
	if err != nil {
		t.Fatalf("wfsh runs: %v", err)
	}
	var runs []store.Run
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r store.Run
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("wfsh runs --json: %v\n%s", err, out)
		}
		runs = append(runs, r)
	}
	return runs
}

// TestKillLeavesConsistentStore kills `wfsh run` at random points: each
// time, the next command marks the run Crashed (or finds it finished), the
// database passes SQLite's integrity check, every task run is final, and
// the secret is in none of the files. Some of the crashed runs are
// resumed: the resumed run finishes the work without redoing what was
// done before the kill.
func TestKillLeavesConsistentStore(t *testing.T) {
	bin := wfshBinary(t)
	dir := slowFlowDir(t)
	db := filepath.Join(dir, "wfsh.db")
	kills := 50
	if testing.Short() {
		kills = 10
	}
	deadline := time.Now().Add(45 * time.Second)
	crashed, resumes := 0, 5
	if testing.Short() {
		resumes = 2
	}
	var killedRuns []string
	for i := 0; i < kills; i++ {
		if time.Now().After(deadline) {
			t.Logf("stopped after %d kills, to bound the time", i)
			break
		}
		cmd := startRun(t, bin, dir, db)
		time.Sleep(time.Duration(rand.IntN(600)) * time.Millisecond)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		runs := runsJSON(t, bin, db)
		var killed *store.Run
		for _, r := range runs {
			if !r.State.Finished() {
				t.Fatalf("kill %d: run %s of pid %d is %s after its process died", i, r.ID, r.PID, r.State)
			}
			if r.PID == cmd.Process.Pid && r.State == runtime.Crashed {
				crashed++
				killed = &r
			}
		}
		checkStore(t, db, i)
		scanForSecret(t, dir, i)
		if killed != nil {
			killedRuns = append(killedRuns, killed.ID)
		}
	}
	if crashed == 0 {
		t.Fatalf("no kill landed during a run")
	}
	// Resume some of the crashed runs, from first to last: the rest of the
	// work is done, what was done before the kill is not done again.
	for j := range resumes {
		i := j * (len(killedRuns) - 1) / max(resumes-1, 1)
		resumeAfterKill(t, bin, dir, db, killedRuns[i], i)
		if j == len(killedRuns)-1 {
			break
		}
	}
	checkStore(t, db, kills)
	t.Logf("%d runs marked Crashed", crashed)
}

// resumeAfterKill resumes a run killed at kill: the resumed run must
// succeed, and every task run that had succeeded must be Cached in it.
func resumeAfterKill(t *testing.T, bin, dir, db, id string, crash int) {
	t.Helper()
	cmd := exec.Command(bin, "run", "--store", db, "--resume", id, "flow.star")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WFSH_TEST_SECRET="+testSecret)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crash %d: wfsh run --resume %s: %v\n%s", crash, id, err, out)
	}
	s, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	runs, err := s.ListRuns(ctx, store.RunFilter{Limit: 1})
	if err != nil || len(runs) != 1 || runs[0].ResumedFrom != id || runs[0].State != runtime.Success {
		t.Fatalf("crash %d: the resumed run: %+v, %v", crash, runs, err)
	}
	before, err := s.TaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.TaskRuns(ctx, runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	now := map[string]runtime.State{}
	for _, tr := range after {
		now[tr.Name] = tr.State
	}
	done, taken := 0, 0
	for _, tr := range before {
		if tr.State != runtime.Success || tr.Kind == "const" {
			continue
		}
		done++
		if now[tr.Name] != runtime.Cached {
			t.Errorf("crash %d: %s succeeded before the kill, and is %s when resumed, not Cached", crash, tr.Name, now[tr.Name])
			continue
		}
		taken++
	}
	if kids := countChildren(after); kids != 300 {
		t.Errorf("crash %d: the resumed run has %d children of work, want 300", crash, kids)
	}
	t.Logf("crash %d: resumed %s, %d of %d task runs taken from it", crash, id[:8], taken, done)
}

func countChildren(trs []store.TaskRun) int {
	n := 0
	for _, tr := range trs {
		if tr.Task == "work" && tr.MapIndex >= 0 && tr.State.Successful() {
			n++
		}
	}
	return n
}

// checkStore opens the store as the next command would and checks it.
func checkStore(t *testing.T, db string, kill int) {
	t.Helper()
	s, err := store.Open(db)
	if err != nil {
		t.Fatalf("kill %d: %v", kill, err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("kill %d: %v", kill, err)
	}
	runs, err := s.ListRuns(ctx, store.RunFilter{})
	if err != nil {
		t.Fatalf("kill %d: %v", kill, err)
	}
	for _, r := range runs {
		trs, err := s.TaskRuns(ctx, r.ID)
		if err != nil {
			t.Fatalf("kill %d: %v", kill, err)
		}
		for _, tr := range trs {
			if !tr.State.Finished() {
				t.Fatalf("kill %d: task run %s of %s run %s is %s", kill, tr.Name, r.State, r.ID, tr.State)
			}
		}
		if _, err := s.Logs(ctx, r.ID, store.LogFilter{}); err != nil {
			t.Fatalf("kill %d: %v", kill, err)
		}
	}
}

// scanForSecret fails if the secret's bytes are in any file of dir: the
// database, its WAL and shared-memory files.
func scanForSecret(t *testing.T, dir string, kill int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "wfsh.db*"))
	if len(files) == 0 {
		t.Fatalf("kill %d: no database files in %s", kill, dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(testSecret)) {
			t.Fatalf("kill %d: %s holds the secret", kill, filepath.Base(f))
		}
	}
}

// TestSecretNotStored runs a flow that prints a secret and fails with it
// in the message, and scans the store's files for it.
func TestSecretNotStored(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wfsh.db")
	flow := filepath.Join(dir, "s.star")
	if err := os.WriteFile(flow, []byte(`
@task
def leak():
    password = secret("WFSH_TEST_SECRET")
    print("the password is %s" % password)
    fail("rejected " + password)

@task
def give():
    return {"user": "me", "password": secret("WFSH_TEST_SECRET")}

@task(cache_for="1h")
def keep(creds):
    return ["kept", creds["password"]]

@flow
def f():
    leak()
    keep(give())
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WFSH_TEST_SECRET", testSecret)
	var out, errb bytes.Buffer
	if code := execute([]string{"run", "--store", db, flow}, nil, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "the password is ********") {
		t.Fatalf("the flow did not print the masked secret:\n%s", out.String())
	}
	scanForSecret(t, dir, 0)
	// The run is there, with the masked line.
	var logs bytes.Buffer
	s, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := s.ListRuns(context.Background(), store.RunFilter{})
	s.Close()
	if len(runs) != 1 {
		t.Fatalf("%d runs recorded, want 1", len(runs))
	}
	if code := execute([]string{"logs", "--store", db, runs[0].ID}, nil, &logs, &errb); code != 0 {
		t.Fatalf("wfsh logs: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(logs.String(), "the password is ********") || strings.Contains(logs.String(), testSecret) {
		t.Errorf("wfsh logs:\n%s", logs.String())
	}
	// The results that hold the secret are neither stored nor cached.
	var cached bytes.Buffer
	if code := execute([]string{"cache", "ls", "--store", db}, nil, &cached, &errb); code != 0 || strings.Contains(cached.String(), "keep") {
		t.Errorf("wfsh cache ls: exit %d\n%s%s", code, cached.String(), errb.String())
	}
	s, err = store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	trs, err := s.TaskRuns(context.Background(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		if (tr.Name == "give" || tr.Name == "keep") && (tr.Result != nil || tr.ResultNote != "the result holds a secret") {
			t.Errorf("%s: result %s, note %q", tr.Name, tr.Result, tr.ResultNote)
		}
	}
}

// TestTwoRunsAtOnce runs two wfsh processes on one store at the same time:
// both must succeed and be recorded.
func TestTwoRunsAtOnce(t *testing.T) {
	bin := wfshBinary(t)
	dir := slowFlowDir(t)
	db := filepath.Join(dir, "wfsh.db")
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := exec.Command(bin, "run", "--store", db, "flow.star")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "WFSH_TEST_SECRET="+testSecret)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &b)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("run %d: %v\n%s", i, err, outs[i])
		}
		if strings.Contains(outs[i].String(), "locked") {
			t.Errorf("run %d:\n%s", i, outs[i])
		}
	}
	runs := runsJSON(t, bin, db)
	if len(runs) != 2 || runs[0].State != runtime.Success || runs[1].State != runtime.Success {
		t.Fatalf("runs: %+v", runs)
	}
	for _, r := range runs {
		out, err := exec.Command(bin, "show", "--store", db, r.ID).Output()
		if err != nil || strings.Count(string(out), "\nwork[") != 300 {
			t.Errorf("wfsh show %s: %v\n%s", r.ID, err, out)
		}
	}
}

// TestLogsFollow follows the log of a run in progress in another process:
// wfsh logs --follow prints the whole log and stops when the run ends.
func TestLogsFollow(t *testing.T) {
	bin := wfshBinary(t)
	dir := slowFlowDir(t)
	db := filepath.Join(dir, "wfsh.db")
	run := startRun(t, bin, dir, db)
	var id string
	for start := time.Now(); id == "" && time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(db); err != nil {
			continue
		}
		if runs := runsJSON(t, bin, db); len(runs) > 0 {
			id = runs[0].ID
		}
	}
	if id == "" {
		t.Fatal("the run never appeared in the store")
	}
	follow := exec.Command(bin, "logs", "--store", db, "--follow", id[:8])
	var out bytes.Buffer
	follow.Stdout, follow.Stderr = &out, &out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("wfsh run: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wfsh logs --follow: %v\n%s", err, out.String())
		}
	case <-time.After(5 * time.Second):
		_ = follow.Process.Kill()
		t.Fatalf("wfsh logs --follow did not stop after the run ended:\n%s", out.String())
	}
	got := out.String()
	for _, want := range []string{"Beginning Flow run for 'Slow'", "wfsh.work[250] | item 250", "Flow run SUCCESS"} {
		if !strings.Contains(got, want) {
			t.Errorf("wfsh logs --follow lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "Beginning Flow run") != 1 {
		t.Errorf("lines printed twice:\n%s", got)
	}
}
