package tui

import (
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/wfsh/wfsh/runtime"
)

// DefaultFrame is how often a Feed hands over events: one batch per frame
// of a 60 Hz screen.
const DefaultFrame = time.Second / 60

// Feed is the Sink a run view reads: it queues the executor's events without
// ever blocking it, and hands them to the bubbletea program in batches, at
// most one per frame, so that a run of 100,000 task runs costs one update
// and one render per frame rather than one per event.
//
// A Feed serves one Model: Next is called again only after the previous
// batch was applied.
type Feed struct {
	frame time.Duration

	mu     sync.Mutex
	queue  []runtime.Event
	spare  []runtime.Event // the previous batch's array, reused
	closed bool
	last   time.Time // when the last batch was taken
	wake   chan struct{}

	sleep func(time.Duration) // time.Sleep; tests replace it
}

// NewFeed returns an empty Feed that delivers a batch at most every frame
// (DefaultFrame if frame <= 0).
func NewFeed(frame time.Duration) *Feed {
	if frame <= 0 {
		frame = DefaultFrame
	}
	return &Feed{frame: frame, wake: make(chan struct{}, 1), sleep: time.Sleep}
}

// Emit queues e. It never blocks on the consumer.
func (f *Feed) Emit(e runtime.Event) {
	f.mu.Lock()
	f.queue = append(f.queue, e)
	first := len(f.queue) == 1
	f.mu.Unlock()
	if first {
		f.signal()
	}
}

// Close marks the end of the run's events: the batch that drains the queue
// has Closed set.
func (f *Feed) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.signal()
}

func (f *Feed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// EventsMsg is a batch of a run's events, oldest first. Events is valid only
// until the Update that receives it returns: the Feed reuses its array.
type EventsMsg struct {
	Events []runtime.Event
	// Closed is set on the last batch: no event follows.
	Closed bool

	feed *Feed
}

// Next returns a command that waits for the next batch of events and
// returns it as an EventsMsg.
func (f *Feed) Next() tea.Cmd {
	return func() tea.Msg { return f.wait() }
}

// wait blocks until events are queued (or the feed is closed), lets more
// gather until a frame has passed since the last batch (not once the feed
// is closed: the last events go at once), and takes them all.
func (f *Feed) wait() EventsMsg {
	for {
		f.mu.Lock()
		n, closed := len(f.queue), f.closed
		f.mu.Unlock()
		if n > 0 || closed {
			break
		}
		<-f.wake
	}
	f.mu.Lock()
	last, closed := f.last, f.closed
	f.mu.Unlock()
	if d := f.frame - time.Since(last); d > 0 && !closed {
		f.sleep(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	batch := f.queue
	f.queue, f.spare = f.spare[:0], batch
	f.last = time.Now()
	closed = f.closed
	// A signal sent for events taken now would wake the next wait for
	// nothing; it would only loop once, so it is left.
	return EventsMsg{Events: batch, Closed: closed, feed: f}
}
