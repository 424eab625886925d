package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// DefaultSlotLease is how long a task run holds its slots without
// renewing them: a holder that dies frees them this long after its last
// renewal at most. Holders renew every third of it.
const DefaultSlotLease = 30 * time.Second

// MaxSlotPoll bounds how long a waiting task run goes without looking at
// the store again: the one wake-up a slot freed by another process on
// SQLite has (docs/store.md, "Limits").
const MaxSlotPoll = 50 * time.Millisecond

// Limiter is the runtime.Limiter of a run on this store: a tagged task
// run's attempt takes its slots (AcquireSlots) before its body runs,
// renews them while it runs and frees them after.
type Limiter struct {
	Store *Store
	RunID string
	Flow  map[string]int // the flow's own limits (Graph.Limits)
	Lease time.Duration  // 0: DefaultSlotLease
}

var _ runtime.Limiter = (*Limiter)(nil)

// Acquire waits for the slots of c's tags. While it waits, it is woken at
// once by a slot freed in this process (or, on PostgreSQL, by any
// process), else looks again after at most MaxSlotPoll, or when the first
// lease of the full limit lapses if that is sooner. It says in the task
// run's log that it waits, once.
func (l *Limiter) Acquire(ctx context.Context, c *runtime.Call) (func(), error) {
	s := l.Store
	lease := l.Lease
	if lease <= 0 {
		lease = DefaultSlotLease
	}
	if s.pg {
		s.listenSlot.Do(s.listenFreed)
	}
	claim := &SlotClaim{RunID: l.RunID, Holder: c.TaskRun, Tags: c.Node.Tags, Flow: l.Flow, Lease: lease}
	// A task whose flow limits one of its tags most likely finds room
	// (it would not wait otherwise): its first try goes straight to the
	// write. Other tagged tasks read first, and write only if the store
	// limits one of their tags.
	look := !slices.ContainsFunc(c.Node.Tags, func(t string) bool { _, ok := l.Flow[t]; return ok })
	poll, said := time.Millisecond, false
	for ; ; look = true {
		freed := s.freed.wait()
		now := time.Now()
		g, err := s.acquireSlots(ctx, claim, now, look)
		if err != nil {
			return nil, fmt.Errorf("concurrency limit: %w", err)
		}
		if g.OK {
			return l.hold(claim, g, lease), nil
		}
		if !said {
			c.Log(runtime.Info, fmt.Sprintf("waiting for a slot of limit %s (%d in use)", g.Full, g.Used))
			said = true
		}
		wait := poll
		if !g.Lapse.IsZero() {
			wait = max(min(wait, g.Lapse.Sub(now)), 0)
		}
		poll = min(2*poll, MaxSlotPoll)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
}

// hold renews the slots of g every third of the lease until the returned
// release frees them.
func (l *Limiter) hold(c *SlotClaim, g SlotGrant, lease time.Duration) func() {
	if len(g.Scopes) == 0 {
		return func() {}
	}
	var mu sync.Mutex
	var t *time.Timer
	renew := func() {
		mu.Lock()
		defer mu.Unlock()
		if t == nil {
			return // released
		}
		_ = l.Store.RenewSlots(context.Background(), c.RunID, c.Holder, time.Now().Add(lease))
		t.Reset(lease / 3)
	}
	mu.Lock()
	t = time.AfterFunc(lease/3, renew)
	mu.Unlock()
	return func() {
		mu.Lock()
		t.Stop()
		t = nil
		mu.Unlock()
		_ = l.Store.ReleaseSlots(context.Background(), c.RunID, c.Holder)
	}
}

// listenFreed wakes this process's waiters when another process frees a
// slot (PostgreSQL's NOTIFY), until the store closes.
func (s *Store) listenFreed() {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.stopListen = cancel
	s.mu.Unlock()
	go s.listen(ctx, slotsChannel, s.freed.broadcast)
}
