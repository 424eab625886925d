package server

import (
	"context"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// TestSlotClient: a run's token takes, renews and frees its task runs'
// slots on the server through SlotClient, under the server's limit; it
// may not for another run; and a Limiter over it holds the limit.
func TestSlotClient(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	if err := ts.st.PutLimit(ctx, "db", 1); err != nil {
		t.Fatal(err)
	}
	run, runTok := ts.runToken(t)
	sc := &SlotClient{C: runTok, RunID: run.ID}
	if n, ok, err := sc.StoredLimit(ctx, "db"); err != nil || !ok || n != 1 {
		t.Fatalf("limit of db: %d %v %v", n, ok, err)
	}
	claim := func(holder string) *store.SlotClaim {
		return &store.SlotClaim{Holder: holder, Tags: []string{"db"}, Lease: 5 * time.Second}
	}
	if g, err := sc.TakeSlots(ctx, claim("a"), false); err != nil || !g.OK || len(g.Scopes) != 1 {
		t.Fatalf("first slot: %+v %v", g, err)
	}
	g, err := sc.TakeSlots(ctx, claim("b"), true)
	if err != nil || g.OK || g.Full != "db" || g.Used != 1 || g.Lapse.IsZero() {
		t.Fatalf("second slot under a limit of 1: %+v %v", g, err)
	}
	if err := sc.KeepSlots(ctx, run.ID, []string{"a"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Another run's slots are not this token's to take or free.
	other := &SlotClient{C: runTok, RunID: "someone-else"}
	if _, err := other.TakeSlots(ctx, claim("c"), false); status(err) != 403 && status(err) != 404 {
		t.Errorf("a run token taking another run's slot: %v, want 403 or 404", err)
	}
	if err := sc.FreeSlots(ctx, run.ID, "a", nil); err != nil {
		t.Fatal(err)
	}
	// Through a Limiter: a task run takes the freed slot, and frees it.
	l := &store.Limiter{Slots: sc, RunID: run.ID}
	release, err := l.Acquire(ctx, &runtime.Call{Node: &runtime.Node{Name: "q", Tags: []string{"db"}}, TaskRun: "q"})
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := ts.st.ListLimits(ctx)
	if len(ls) != 1 || ls[0].Used != 1 {
		t.Errorf("limits while held: %+v", ls)
	}
	release()
	if ls, _ := ts.st.ListLimits(ctx); len(ls) != 1 || ls[0].Used != 0 {
		t.Errorf("limits after release: %+v", ls)
	}
}
