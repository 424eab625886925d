package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
)

// TestWorkerWaitsForServer: a worker started before its server retries
// with backoff, says so once (not once per attempt), and runs a run once
// the server is up, saying the server answers again.
func TestWorkerWaitsForServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server and worker processes")
	}
	bin, home, addr := wfshBinary(t), t.TempDir(), freeAddr(t)
	admin := auth.New().Plaintext
	ps := &procServer{bin: bin, home: home, admin: &server.Client{Base: "http://" + addr, Token: admin}}
	w := exec.Command(bin, "worker", "--pool", "default", "--grace", "2s")
	w.Env = append(os.Environ(), "WFSH_HOME="+home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+admin)
	var log proctest.Buffer
	w.Stdout, w.Stderr = &log, &log
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.Wait() }()
	t.Cleanup(func() {
		w.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("worker's log:\n%s", log.String())
		}
	})
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(log.String(), "(retrying)") }, "the worker to say it retries")
	// Backoff from 100 ms: about six attempts in the next 3 s, one line.
	select {
	case err := <-exited:
		t.Fatalf("the worker exited while its server was down: %v\n%s", err, log.String())
	case <-time.After(3 * time.Second):
	}
	if n := strings.Count(log.String(), "wfsh worker: "); n != 1 {
		t.Errorf("%d lines in the worker's log while its server was down, want 1:\n%s", n, log.String())
	}
	// The server, on the worker's address, with the worker's token as
	// its admin's.
	t.Setenv("WFSH_ADMIN_TOKEN", admin)
	ps.restart(t, "")
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(log.String(), "the server answers again") }, "the worker to reach its server")
	if out, code := ps.wfsh(t, admin, "deploy", "../../flows/hello_world.star", "--name", "late"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	id := mustRun(t, ps, admin, "run", "HelloWorld/late")
	if r := ps.waitState(t, id, 30*time.Second, runtime.State.Finished); r.State != runtime.Success {
		t.Errorf("the run ended %s, want Success", r.State)
	}
}

// TestWorkerTokenRefused: a worker whose token the server refuses (401
// unknown, 403 another pool's) exits 1 at once with one line saying so,
// instead of retrying.
func TestWorkerTokenRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server and worker processes")
	}
	ps := startServer(t, 30*time.Second, "")
	for _, c := range []struct{ name, token, status string }{
		{"unknown", auth.New().Plaintext, "(401: "},
		{"another pool's", ps.token(t, "worker", "other"), "(403: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(ps.bin, "worker", "--pool", "default")
			cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+c.token)
			var stdout, stderr proctest.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() != exitFailed {
					t.Errorf("exit: %v, want status %d", err, exitFailed)
				}
			case <-ctx.Done():
				cmd.Process.Kill()
				<-done
				t.Fatalf("the worker did not exit within 20 s:\n%s", stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "refused the worker's token "+c.status) || !strings.HasPrefix(lines[0], "wfsh worker: ") {
				t.Errorf("stderr, want one line of a refused token %s:\n%s", c.status, stderr.String())
			}
		})
	}
}
