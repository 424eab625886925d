package worker

import (
	"context"
	"sync"
	"time"

	"github.com/wfsh/wfsh/server"
)

// Lease is, on a worker's side, the lease its claims carry: the server
// says how long with each claim (Claimed.LeaseMS), and heartbeats go a
// third of it apart. A worker knows it only from its first claim, so the
// wait between heartbeats starts again when it changes: a worker that
// waited a third of its 30 s default before learning of a 2 s lease let
// its first runs' leases lapse.
type Lease struct {
	mu      sync.Mutex
	d       time.Duration
	changed chan struct{}
}

// NewLease is a lease of d until a claim says otherwise.
func NewLease(d time.Duration) *Lease {
	return &Lease{d: d, changed: make(chan struct{}, 1)}
}

// Claimed takes the lease a claim carries (none: no change).
func (l *Lease) Claimed(c server.Claimed) {
	if c.LeaseMS <= 0 {
		return
	}
	d := time.Duration(c.LeaseMS) * time.Millisecond
	l.mu.Lock()
	defer l.mu.Unlock()
	if d == l.d {
		return
	}
	l.d = d
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Get is the lease now.
func (l *Lease) Get() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.d
}

// WaitHeartbeat waits until the next heartbeat is due, a third of the
// lease after it was called, or less when the lease is changed meanwhile
// (the wait is measured again from the call with the new lease). It
// returns false when ctx ended.
func (l *Lease) WaitHeartbeat(ctx context.Context) bool {
	start := time.Now()
	for {
		t := time.NewTimer(time.Until(start.Add(l.Get() / 3)))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
			return true
		case <-l.changed:
			t.Stop()
		}
	}
}
