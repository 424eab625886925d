package store

import (
	"context"
	"testing"
	"time"
)

// TestNotify: on PostgreSQL a store listening hears another store's
// Notify on the same database, at once, and not its own; on SQLite both
// are no-ops.
func TestNotify(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a, where := b.open(t)
		other, err := Open(where)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		heard := make(chan struct{}, 16)
		done := make(chan error, 1)
		go func() { done <- a.Listen(ctx, func() { heard <- struct{}{} }) }()
		if b == onSQLite {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err := other.Notify(ctx); err != nil {
				t.Fatal(err)
			}
			return
		}
		// LISTEN is in place once a notification gets through: send until
		// one does, then time the next.
		deadline := time.Now().Add(10 * time.Second)
		for got := false; !got; {
			other.Notify(ctx)
			select {
			case <-heard:
				got = true
			case <-time.After(50 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatal("no notification heard in 10 s")
				}
			}
		}
		for len(heard) > 0 {
			<-heard
		}
		start := time.Now()
		if err := other.Notify(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-heard:
			t.Logf("heard in %v", time.Since(start))
		case <-time.After(2 * time.Second):
			t.Fatal("a notification was not heard within 2 s")
		}
		// Its own notification a does not hear (it woke its own waiters
		// itself): a's is delivered before other's, and only other's is
		// heard.
		if err := a.Notify(ctx); err != nil {
			t.Fatal(err)
		}
		if err := other.Notify(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-heard:
		case <-time.After(2 * time.Second):
			t.Fatal("a notification was not heard within 2 s")
		}
		time.Sleep(100 * time.Millisecond)
		if len(heard) != 0 {
			t.Errorf("the store heard its own notification (%d more heard)", len(heard))
		}
	})
}
