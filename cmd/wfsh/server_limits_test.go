//go:build unix

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// serverLimitedFlow is limitedFlow without a limit of its own: the
// server's `wfsh limit set db 2` is what holds.
var serverLimitedFlow = strings.Replace(limitedFlow, `@flow(limits={"db": 2})`, `@flow(name="Limited")`, 1)

// TestServerTaskLimit: `wfsh limit set db 2` on a real server, two
// workers of two slots each running four runs of three db task runs:
// the runs' processes take their task runs' slots from the server, and
// at no instant do more than two db task runs run; two do at some
// instant, some task run says it waited, and no slot is left after.
func TestServerTaskLimit(t *testing.T) {
	ps := startServer(t, 2*time.Second, "")
	dev := ps.token(t, "developer", "")
	wtok := ps.token(t, "worker", "default")
	if out, code := ps.wfsh(t, ps.admin.Token, "limit", "set", "db", "2"); code != 0 {
		t.Fatalf("limit set: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.star"), []byte(serverLimitedFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := ps.wfsh(t, dev, "deploy", filepath.Join(dir, "flow.star"), "--name", "lim"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	ps.startWorker(t, wtok, 2)
	ps.startWorker(t, wtok, 2)
	log := filepath.Join(dir, "spans.log")
	var ids []string
	for range 4 {
		ids = append(ids, mustRun(t, ps, dev, "run", "Limited/lim", "-p", "log="+log, "-p", "secs=0.3s"))
	}
	for _, id := range ids {
		if r := ps.waitState(t, id, 60*time.Second, runtime.State.Finished); r.State != runtime.Success {
			t.Fatalf("run %s ended %v: %s", id, r.State, r.Message)
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
	for _, id := range ids {
		out, _ := ps.wfsh(t, dev, "logs", id)
		waited += strings.Count(out, "waiting for a slot of limit db")
	}
	if waited == 0 {
		t.Error("no task run said it waited for a slot")
	}
	if out, _ := ps.wfsh(t, ps.admin.Token, "limit", "ls"); !regexp.MustCompile(`db\s+2\s+0`).MatchString(out) {
		t.Errorf("slots left in use after the runs:\n%s", out)
	}
}
