package tui

import (
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

func seqs(events []runtime.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

// TestFeedBatches checks that events queued before a wait come in one
// batch, in order, and that Close ends the stream.
func TestFeedBatches(t *testing.T) {
	f := NewFeed(time.Hour) // the first batch does not wait for a frame
	for i := range 1000 {
		f.Emit(runtime.Event{Seq: uint64(i + 1)})
	}
	b := f.wait()
	if len(b.Events) != 1000 || b.Closed {
		t.Fatalf("batch of %d events (closed %v), want 1000, open", len(b.Events), b.Closed)
	}
	for i, s := range seqs(b.Events) {
		if s != uint64(i+1) {
			t.Fatalf("event %d has Seq %d: out of order", i, s)
		}
	}
	f.Close()
	if b := f.wait(); !b.Closed || len(b.Events) != 0 {
		t.Fatalf("after Close: %d events, closed %v", len(b.Events), b.Closed)
	}
}

// TestFeedCoalesces checks that events emitted while a batch waits for its
// frame are delivered with it, not one by one.
func TestFeedCoalesces(t *testing.T) {
	f := NewFeed(time.Hour)
	f.Emit(runtime.Event{Seq: 1})
	if b := f.wait(); len(b.Events) != 1 {
		t.Fatalf("first batch: %d events", len(b.Events))
	}
	var slept time.Duration
	f.sleep = func(d time.Duration) {
		slept = d
		f.Emit(runtime.Event{Seq: 3}) // arrives during the frame
		f.Emit(runtime.Event{Seq: 4})
	}
	f.Emit(runtime.Event{Seq: 2})
	b := f.wait()
	if got := seqs(b.Events); len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("second batch %v, want [2 3 4]", got)
	}
	if slept <= 0 || slept > time.Hour {
		t.Errorf("waited %v for the frame, want (0, 1h]", slept)
	}
	// The next batch reuses the array of an earlier one and holds only
	// its own events.
	f.sleep = func(time.Duration) {}
	f.Emit(runtime.Event{Seq: 5})
	if b3 := f.wait(); len(b3.Events) != 1 || b3.Events[0].Seq != 5 {
		t.Fatalf("third batch %v", seqs(b3.Events))
	}
}

// TestFeedCloseLastBatch checks that the batch that drains the queue
// after Close says so.
func TestFeedCloseLastBatch(t *testing.T) {
	f := NewFeed(time.Millisecond)
	f.Emit(runtime.Event{Seq: 1})
	f.Close()
	b := f.wait()
	if len(b.Events) != 1 || !b.Closed {
		t.Fatalf("%d events, closed %v; want 1, true", len(b.Events), b.Closed)
	}
}

// TestFeedWaitsForEvents checks that a wait blocks until an event comes.
func TestFeedWaitsForEvents(t *testing.T) {
	f := NewFeed(time.Millisecond)
	got := make(chan EventsMsg)
	go func() { got <- f.wait() }()
	select {
	case b := <-got:
		t.Fatalf("wait returned %d events before any was emitted", len(b.Events))
	case <-time.After(50 * time.Millisecond):
	}
	f.Emit(runtime.Event{Seq: 7})
	select {
	case b := <-got:
		if len(b.Events) != 1 || b.Events[0].Seq != 7 {
			t.Fatalf("got %v", seqs(b.Events))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return after an event")
	}
}

// TestFeedSink runs the sink conformance test with a consumer reading
// batches as a Model does, and checks it receives every event in order.
func TestFeedSink(t *testing.T) {
	f := NewFeed(time.Millisecond)
	var (
		mu  sync.Mutex
		got []uint64
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b := f.wait()
			mu.Lock()
			got = append(got, seqs(b.Events)...)
			mu.Unlock()
			if b.Closed {
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	runtimetest.TestSink(t, f, runtimetest.Keeps{}, nil)
	f.Close()
	<-done
	close(stop)
	// Three runs, each numbered from 1.
	runs := 0
	for i, s := range got {
		if s == 1 {
			runs++
			continue
		}
		if i == 0 || s != got[i-1]+1 {
			t.Fatalf("event %d: Seq %d after %d", i, s, got[max(i-1, 0)])
		}
	}
	if runs != 3 {
		t.Errorf("saw %d runs, want 3", runs)
	}
}
