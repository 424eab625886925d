package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/pgtest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// TestServerResume: real server and worker processes. A run whose second
// task fails is resumed with `wfsh resume`: the new run takes the first
// task's result instead of running it again (a shell task that appends a
// line to a file each time it runs: one line in the end), runs the rest,
// and Succeeds; the run that Succeeded is refused (409, exit 2), and no
// token but the new run's holder reads what it resumes.
func TestServerResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	t.Run("sqlite", func(t *testing.T) { serverResume(t, "") })
	t.Run("postgres", func(t *testing.T) { serverResume(t, pgtest.Start(t).NewDatabase(t)) })
}

// resumeFlow writes a flow of three tasks: first (a shell task counting
// its runs in dir/count) returns 41, plus_one gives 42, and second fails
// while dir/fixed does not exist.
func resumeFlow(t *testing.T) (flowDir, dataDir string) {
	flowDir, dataDir = t.TempDir(), t.TempDir()
	src := `load("@shell", "shell_task")

first = shell_task(name="first", command="echo ran >> DATA/count; echo 41")
second = shell_task(name="second", command="test -e DATA/fixed && echo fixed")

@task
def plus_one(n):
    return int(n) + 1

@flow(name="Twice")
def twice():
    m = plus_one(first())
    second(upstream_tasks=[m])
`
	src = strings.ReplaceAll(src, "DATA", dataDir)
	if err := os.WriteFile(filepath.Join(flowDir, "twice.star"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return flowDir, dataDir
}

func serverResume(t *testing.T, db string) {
	ctx := context.Background()
	ps := startServer(t, 2*time.Second, db)
	dev, wtok := ps.token(t, "developer", ""), ps.token(t, "worker", "default")
	flowDir, dataDir := resumeFlow(t)
	if out, code := ps.wfsh(t, dev, "deploy", filepath.Join(flowDir, "twice.star"), "--name", "t"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	ps.startWorker(t, wtok, 1)
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dataDir, "count"))
		return strings.Count(string(b), "\n")
	}

	out, code := ps.wfsh(t, dev, "run", "Twice/t", "--watch")
	if code != exitFailed || !strings.Contains(out, "Flow run FAILED") {
		t.Fatalf("the first run: exit %d, want %d\n%s", code, exitFailed, out)
	}
	if n := runs(); n != 1 {
		t.Fatalf("first ran %d times in the first run", n)
	}
	failed := lastRun(t, ps, runtime.Failed)

	// Resumed once the cause is fixed: first is not run again.
	if err := os.WriteFile(filepath.Join(dataDir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = ps.wfsh(t, dev, "resume", failed.ID[:8], "--watch")
	if code != exitSuccess || !strings.Contains(out, "Flow run SUCCESS") || !strings.Contains(out, "'first': Finished task run for task with final state: 'Cached'") {
		t.Fatalf("resume --watch: exit %d, want 0\n%s", code, out)
	}
	if n := runs(); n != 1 {
		t.Errorf("first ran %d times: the resumed run ran it again", n)
	}
	var d server.RunDetail
	resumed := lastRun(t, ps, runtime.Success)
	if err := ps.admin.Do(ctx, "GET", "/runs/"+resumed.ID, nil, &d); err != nil {
		t.Fatal(err)
	}
	if d.Run.ResumedFrom != failed.ID || d.Run.Server.Deployment != failed.Server.Deployment || d.Run.Server.Bundle != failed.Server.Bundle {
		t.Errorf("the resumed run: %+v %+v, want resumed_from %s", d.Run, d.Run.Server, failed.ID)
	}
	got := map[string]runtime.State{}
	for _, tr := range d.TaskRuns {
		got[tr.Name] = tr.State
		if tr.Name == "first" && tr.Message != "resumed: result of run "+failed.ID {
			t.Errorf("first's message %q, want the run it was taken from", tr.Message)
		}
		if tr.Name == "plus_one" && string(tr.Result) != "42" {
			t.Errorf("plus_one's result %s, want 42 (from first's 41, taken)", tr.Result)
		}
	}
	want := map[string]runtime.State{"first": runtime.Cached, "plus_one": runtime.Cached, "second": runtime.Success}
	for name, st := range want {
		if got[name] != st {
			t.Errorf("task run %s: %s, want %s (all: %v)", name, got[name], st, got)
		}
	}

	// A run that Succeeded is not resumed: 409, exit 2, nothing made.
	out, code = ps.wfsh(t, dev, "resume", resumed.ID)
	if code != exitBadInput || !strings.Contains(out, "Success") {
		t.Errorf("resume of a Success run: exit %d, want %d\n%s", code, exitBadInput, out)
	}
	err := ps.admin.Do(ctx, "POST", "/runs/"+resumed.ID+"/resume", nil, nil)
	var ae *server.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Errorf("POST resume of a Success run: %v, want 409", err)
	}
	// What a run resumes is its holder's to read: the run is over, so
	// no one's, a developer's never.
	for _, tok := range []string{dev, wtok} {
		c := &server.Client{Base: ps.admin.Base, Token: tok}
		err := c.Do(ctx, "GET", server.Query("/runs/"+resumed.ID+"/resumed", "worker", "w"), nil, nil)
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
			t.Errorf("GET resumed of an ended run: %v, want 403", err)
		}
	}
}

// lastRun is the newest run of the server, which must be in state st.
func lastRun(t *testing.T, ps *procServer, st runtime.State) store.Run {
	t.Helper()
	var list server.RunList
	if err := ps.admin.Do(context.Background(), "GET", "/runs?limit=1", nil, &list); err != nil || len(list.Runs) != 1 {
		t.Fatalf("the newest run: %v, %v", list.Runs, err)
	}
	if r := list.Runs[0]; r.State != st {
		t.Fatalf("the newest run %s is %s (%s), want %s", r.ID, r.State, r.Message, st)
	}
	return list.Runs[0]
}
