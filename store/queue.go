package store

import (
	"sync"

	"github.com/wfsh/wfsh/runtime"
)

// queue holds events between Emit and the writer goroutine. Emit runs
// under the executor's lock, so it must be cheap: events go into blocks
// of fixed size, never into one slice that grows by copying, and written
// blocks are reused.
//
// The queue is bounded: when the writer falls behind (a run printing
// faster than the disk takes it, another process holding the write lock)
// and maxBlocks blocks or maxBytes of messages wait, push waits for the
// writer to take them. Memory then stays flat however much a run logs;
// the run slows to the speed of the store instead.
type queue struct {
	mu     sync.Mutex
	room   sync.Cond // signalled when the writer takes events
	full   [][]runtime.Event
	queued int // events in full
	cur    []runtime.Event
	next   int // the size of the next new block
	free   [][]runtime.Event
	bytes  int // of the messages queued
	closed bool
	wake   chan struct{} // events have come
	many   chan struct{} // flushBlocks blocks are full
}

const (
	// A queue's first block holds firstBlock events, each new one twice
	// as many, up to blockSize: a small run (a thousand scheduled runs of
	// one task each) does not hold 2,048 events' room.
	firstBlock = 32
	blockSize  = 2048
	freeBlocks = 64
	// flushBlocks full blocks are written without waiting for the flush
	// interval, so that the last write, at Close, stays short.
	flushBlocks = 1
	// maxBlocks full blocks, or maxBytes of messages, make push wait.
	maxBlocks = 4
	maxBytes  = 4 << 20
)

func newQueue() *queue {
	q := &queue{wake: make(chan struct{}, 1), many: make(chan struct{}, 1), next: firstBlock}
	q.room.L = &q.mu
	return q
}

func (q *queue) push(e runtime.Event) {
	q.mu.Lock()
	for (q.queued >= maxBlocks*blockSize || q.bytes >= maxBytes) && !q.closed {
		signal(q.many)
		q.room.Wait()
	}
	q.bytes += len(e.Msg)
	wake := len(q.cur) == 0 && len(q.full) == 0 // the writer may be waiting
	if len(q.cur) == cap(q.cur) {
		if q.cur != nil {
			q.full = append(q.full, q.cur)
			was := q.queued
			q.queued += len(q.cur)
			if was < flushBlocks*blockSize && q.queued >= flushBlocks*blockSize {
				signal(q.many)
			}
		}
		if n := len(q.free); n > 0 {
			q.cur, q.free = q.free[n-1], q.free[:n-1]
		} else {
			q.cur = make([]runtime.Event, 0, q.next)
			q.next = min(2*q.next, blockSize)
		}
	}
	q.cur = append(q.cur, e)
	q.mu.Unlock()
	if wake {
		signal(q.wake)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.room.Broadcast()
	q.mu.Unlock()
	signal(q.wake)
}

// take waits for events and returns them, oldest first, in blocks; ok is
// false once the queue is closed and empty.
func (q *queue) take() (blocks [][]runtime.Event, ok bool) {
	for {
		q.mu.Lock()
		blocks, q.full, q.queued = q.full, nil, 0
		if len(q.cur) > 0 {
			blocks, q.cur = append(blocks, q.cur), nil
		}
		closed := q.closed
		if len(blocks) > 0 {
			q.bytes = 0
			q.room.Broadcast()
		}
		q.mu.Unlock()
		if len(blocks) > 0 {
			return blocks, true
		}
		if closed {
			return nil, false
		}
		<-q.wake
	}
}

// recycle gives back blocks that have been written.
func (q *queue) recycle(blocks [][]runtime.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range blocks {
		if len(q.free) >= freeBlocks {
			return
		}
		clear(b) // drop what the events referred to
		q.free = append(q.free, b[:0])
	}
}
