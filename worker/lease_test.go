package worker

import (
	"context"
	"testing"
	"time"

	"github.com/wfsh/wfsh/server"
)

// A heartbeat waiting a third of the default lease is due sooner once a
// claim brings a shorter one.
func TestLeaseWaitShortens(t *testing.T) {
	l := NewLease(30 * time.Second)
	done := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		l.WaitHeartbeat(context.Background())
		done <- time.Since(start)
	}()
	time.Sleep(50 * time.Millisecond)
	l.Claimed(server.Claimed{LeaseMS: 300})
	select {
	case d := <-done:
		if d < 100*time.Millisecond {
			t.Errorf("the wait ended after %v, before a third of the new lease (100ms)", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait kept the 30s lease's 10s after a 300ms lease was claimed")
	}
	if l.Get() != 300*time.Millisecond {
		t.Errorf("lease %v, want 300ms", l.Get())
	}
	// A claim without a lease changes nothing.
	l.Claimed(server.Claimed{})
	if l.Get() != 300*time.Millisecond {
		t.Errorf("lease %v after a claim with none, want 300ms", l.Get())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.WaitHeartbeat(ctx) {
		t.Error("WaitHeartbeat returned true after its context ended")
	}
}
