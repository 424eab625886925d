package repl

import (
	"sync"

	tea "charm.land/bubbletea/v2"
)

// A mailbox carries messages from other goroutines (the statement that
// runs, a flow run's executor) to the UI without ever blocking them: it
// queues without bound and hands over everything queued at once, so that
// a burst costs one update and one frame.
type mailbox struct {
	mu     sync.Mutex
	queue  []tea.Msg
	notify chan struct{} // holds a token while queue is not empty
	closed chan struct{}
	once   sync.Once
}

// batchMsg is everything a mailbox held, in order; it may be empty.
type batchMsg []tea.Msg

// closedMsg says that the mailbox is closed.
type closedMsg struct{}

func newMailbox() *mailbox {
	return &mailbox{notify: make(chan struct{}, 1), closed: make(chan struct{})}
}

// close ends every receive, now and later.
func (b *mailbox) close() { b.once.Do(func() { close(b.closed) }) }

func (b *mailbox) post(msg tea.Msg) {
	b.mu.Lock()
	b.queue = append(b.queue, msg)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// receive is a command that waits for messages and returns them all.
func (b *mailbox) receive() tea.Msg {
	select {
	case <-b.notify:
	case <-b.closed:
		return closedMsg{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queue
	b.queue = nil
	return batchMsg(q)
}
