package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
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

// countingTransport counts a client's requests by path.
type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count(suffix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, k := range c.n {
		if strings.HasSuffix(p, suffix) {
			n += k
		}
	}
	return n
}

// TestSlotClientHearsFrees: a task run waiting for a slot of the server
// hears of the slot freed by the server's long poll (slots-freed), not
// by asking again and again: SlotFreed's channel closes when another
// run frees its slot, and a Limiter waiting three seconds asks the
// server for its slot a dozen times (not the sixty of a 50 ms poll),
// then takes the slot once it is freed.
func TestSlotClientHearsFrees(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	if err := ts.st.PutLimit(ctx, "db", 1); err != nil {
		t.Fatal(err)
	}
	holderRun, holderTok := ts.runToken(t)
	waiterRun, waiterTok := ts.runToken(t)
	holder := &SlotClient{C: holderTok, RunID: holderRun.ID}
	claim := &store.SlotClaim{Holder: "a", Tags: []string{"db"}, Lease: 30 * time.Second}
	if g, err := holder.TakeSlots(ctx, claim, false); err != nil || !g.OK {
		t.Fatalf("the holder's slot: %+v %v", g, err)
	}
	tr := &countingTransport{n: map[string]int{}}
	c := *waiterTok
	c.HTTP = &http.Client{Transport: tr}
	waiter := &SlotClient{C: &c, RunID: waiterRun.ID}

	// The channel closes at a slot freed, and only then.
	freed := waiter.SlotFreed()
	other := &store.SlotClaim{Holder: "other", Tags: []string{"other"}, Lease: 30 * time.Second}
	if _, err := holder.TakeSlots(ctx, other, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-freed:
		t.Fatal("SlotFreed's channel closed with no slot freed")
	case <-time.After(300 * time.Millisecond):
	}
	if err := holder.FreeSlots(ctx, holderRun.ID, "other", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("SlotFreed's channel did not close when a slot was freed")
	}

	// A Limiter waits on it.
	l := &store.Limiter{Slots: waiter, RunID: waiterRun.ID}
	got := make(chan error, 1)
	go func() {
		release, err := l.Acquire(ctx, &runtime.Call{Node: &runtime.Node{Name: "q", Tags: []string{"db"}}, TaskRun: "q"})
		if err == nil {
			release()
		}
		got <- err
	}()
	time.Sleep(3 * time.Second)
	takes := tr.count("/slots")
	t.Logf("in 3 s of waiting: %d requests for the slot, %d long polls", takes, tr.count("/slots/freed"))
	if takes > 20 {
		t.Errorf("the waiting task run asked for its slot %d times in 3 s", takes)
	}
	if polls := tr.count("/slots/freed"); polls == 0 {
		t.Errorf("the waiting task run did not long-poll slots-freed")
	}
	select {
	case err := <-got:
		t.Fatalf("the waiter took a slot held by another run: %v", err)
	default:
	}
	if err := holder.FreeSlots(ctx, holderRun.ID, "a", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not take the freed slot")
	}
}
