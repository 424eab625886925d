package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
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

// SlotTurn is how long a run hands a slot on among its own task runs:
// then it gives the row back to the store, and its task runs wait
// MaxSlotPoll before asking for it again, so that the task runs of other
// runs waiting for that limit get a turn.
const SlotTurn = time.Second

// limitTTL is how long a Limiter trusts a limit it read from the store
// (`wfsh limit set`) before it reads it again: a limit changed while a
// run goes on holds for its task runs within this long.
const limitTTL = time.Second

// Limiter is the runtime.Limiter of a run on this store. A tagged task
// run's attempt takes a slot of each limited tag: a row of table slots
// (AcquireSlots) when its run holds fewer rows than the limit, else the
// row another of its run's task runs frees, handed over in memory
// (docs/store.md, "Concurrency limits"). The rows of a run are renewed
// together, every third of their lease, while it holds any; a row that
// no task run of the run waits for is deleted at once.
type Limiter struct {
	Store *Store
	// Slots, if set, is where the slots are taken instead of Store: a
	// server, for the run of a worker (server.SlotClient).
	Slots SlotStore
	RunID string
	Flow  map[string]int // the flow's own limits (Graph.Limits)
	Lease time.Duration  // 0: DefaultSlotLease

	mu     sync.Mutex
	pools  map[string]*slotPool   // by tag
	stored map[string]storedLimit // the store's limits as last read
	rows   map[string]int         // holder -> its rows, of every pool
	timer  *time.Timer            // renews the rows while there are some
}

var _ runtime.Limiter = (*Limiter)(nil)

// SlotStore keeps the slot rows of limits shared by several processes:
// a Store, or a server that keeps them in its store.
type SlotStore interface {
	// TakeSlots is AcquireSlots at the store's time; with look, it
	// reads first and writes only if there is room.
	TakeSlots(ctx context.Context, c *SlotClaim, look bool) (SlotGrant, error)
	// KeepSlots extends the lease of holders' slots to lease from now.
	KeepSlots(ctx context.Context, runID string, holders []string, lease time.Duration) error
	// FreeSlots is ReleaseSlots.
	FreeSlots(ctx context.Context, runID, holder string, scopes []string) error
	// StoredLimit is the limit `wfsh limit set` gave tag, if any.
	StoredLimit(ctx context.Context, tag string) (int, bool, error)
	// SlotFreed is closed when this process next frees a slot, or when
	// another process does, if the store can tell (nil: never).
	SlotFreed() <-chan struct{}
}

var _ SlotStore = (*Store)(nil)

// TakeSlots is AcquireSlots now.
func (s *Store) TakeSlots(ctx context.Context, c *SlotClaim, look bool) (SlotGrant, error) {
	return s.acquireSlots(ctx, c, time.Now(), look)
}

// TakeSlotsAt is TakeSlots at now (a server's clock).
func (s *Store) TakeSlotsAt(ctx context.Context, c *SlotClaim, now time.Time, look bool) (SlotGrant, error) {
	return s.acquireSlots(ctx, c, now, look)
}

// KeepSlots extends the lease of holders' slots to lease from now.
func (s *Store) KeepSlots(ctx context.Context, runID string, holders []string, lease time.Duration) error {
	until := time.Now().Add(lease)
	for _, h := range holders {
		if err := s.RenewSlots(ctx, runID, h, until); err != nil {
			return err
		}
	}
	return nil
}

// FreeSlots is ReleaseSlots.
func (s *Store) FreeSlots(ctx context.Context, runID, holder string, scopes []string) error {
	return s.ReleaseSlots(ctx, runID, holder, scopes...)
}

// StoredLimit is the limit of tag in table limits, if it has one.
func (s *Store) StoredLimit(ctx context.Context, tag string) (int, bool, error) {
	return limitOf(ctx, s.db, &SlotClaim{}, tag)
}

// SlotFreed is closed when a slot is next freed in this process, or on
// PostgreSQL in any process (NOTIFY).
func (s *Store) SlotFreed() <-chan struct{} {
	if s.pg {
		s.listenSlot.Do(s.listenFreed)
	}
	return s.freed.wait()
}

// SlotsFreed is how many times a slot was freed so far, as SlotFreed
// hears of it, and the channel closed at the next: what a server tells
// the waiting task runs of its workers' runs (a long poll).
func (s *Store) SlotsFreed() (uint64, <-chan struct{}) {
	if s.pg {
		s.listenSlot.Do(s.listenFreed)
	}
	return s.freed.next()
}

// SlotsEnded wakes the claims waiting for a slot after runs that held
// some ended (their rows deleted with the end, in a transaction now
// committed): a server calls it after the end of a run its worker
// reported.
func (s *Store) SlotsEnded() { s.freed.broadcast() }

// A slotsHeard SlotStore's SlotFreed hears of every slot freed (a
// server's long poll): its waiting task runs look again only every
// MaxSlotPollHeard without one.
type slotsHeard interface{ HearsFrees() bool }

// MaxSlotPollHeard bounds how long a waiting task run goes without
// looking again when its SlotStore hears every slot freed: for a slot
// freed unheard (a run ended on another server of the database).
const MaxSlotPollHeard = time.Second

// maxPoll is how long a task run waiting on s looks again at most.
func maxPoll(s SlotStore) time.Duration {
	if h, ok := s.(slotsHeard); ok && h.HearsFrees() {
		return MaxSlotPollHeard
	}
	return MaxSlotPoll
}

// slots is where l takes its slots.
func (l *Limiter) slots() SlotStore {
	if l.Slots != nil {
		return l.Slots
	}
	return l.Store
}

// slotPool is what a Limiter holds of one tag's limit: its rows, each in
// use by one of the run's task runs, and the task runs of the run
// waiting for one, first come first.
type slotPool struct {
	tag   string
	limit int                  // the limit its rows were taken under
	want  int                  // the limit now: while it differs, rows are not handed on
	rows  map[string]time.Time // holder -> when its row was taken
	queue []*slotWaiter
	yield time.Time // a row was given back for a turn: ask the store after
}

// slotWaiter is a claim of one tag waiting in a pool's queue; closing ch
// tells it it was handed the row of holder, or (holder "") to look again.
type slotWaiter struct {
	ch     chan struct{}
	holder string
}

type storedLimit struct {
	n    int
	ok   bool
	read time.Time
}

// tagLimit is a tag of a claim and the limit on it.
type tagLimit struct {
	tag string
	n   int
}

// holderSeq makes the name of each row a Limiter inserts unique, even
// between Limiters of one run.
var holderSeq atomic.Uint64

// Acquire waits for the slots of c's tags. While it waits, it is handed a
// row its run frees at once, woken at once by a slot freed in this
// process (or, on PostgreSQL, by any process), else looks again after at
// most MaxSlotPoll, or when the first lease of the full limit lapses if
// that is sooner. It says in the task run's log that it waits, once.
func (l *Limiter) Acquire(ctx context.Context, c *runtime.Call) (func(), error) {
	s := l.slots()
	lims, err := l.limitsOf(ctx, c.Node.Tags)
	if err != nil || len(lims) == 0 {
		return func() {}, wrapLimit(ctx, err)
	}
	// A task whose flow limits one of its tags most likely finds room
	// (it would not wait otherwise): its first try goes straight to the
	// write. Other tagged tasks read first.
	look := !slices.ContainsFunc(lims, func(t tagLimit) bool { _, ok := l.Flow[t.tag]; return ok })
	poll, said := time.Millisecond, false
	var w *slotWaiter
	for first := true; ; look, first = true, false {
		// A first look that finds the limit full waits a millisecond: it
		// need not hear of a slot freed (a server's client long-polls
		// for those only for task runs that wait longer).
		var freed <-chan struct{}
		if !first {
			freed = s.SlotFreed()
		}
		holder, inUse, yield := l.handed(lims, w)
		if holder != "" {
			return l.releaser(lims, holder), nil
		}
		wait := poll
		switch {
		case yield > 0:
			wait = yield
			if freed == nil {
				freed = s.SlotFreed()
			}
		case inUse > 0:
			wait = limitTTL // the run holds the whole limit: a release hands a row on
			if freed == nil {
				freed = s.SlotFreed()
			}
			if !said {
				c.WaitingForSlot(lims[0].tag, inUse)
				said = true
			}
		default:
			release, g, err := l.ask(ctx, c, lims, w, look)
			if release != nil || err != nil {
				return release, err
			}
			if !said {
				c.WaitingForSlot(g.Full, g.Used)
				said = true
			}
			if !g.Lapse.IsZero() {
				wait = max(min(wait, time.Until(g.Lapse)), 0)
			}
			poll = min(2*poll, maxPoll(s))
		}
		w = l.queue(lims, w)
		if err := l.sleep(ctx, w, freed, wait); err != nil {
			l.leave(lims, w)
			return nil, err
		}
	}
}

// ask asks the store for a new row of each of lims for c, and returns
// what frees the slots the claim then holds; or, if a limit is full, the
// store's answer.
func (l *Limiter) ask(ctx context.Context, c *runtime.Call, lims []tagLimit, w *slotWaiter, look bool) (func(), SlotGrant, error) {
	holder := fmt.Sprintf("%s~%d", c.TaskRun, holderSeq.Add(1))
	claim := &SlotClaim{RunID: l.RunID, Holder: holder, Tags: tags(lims), Flow: l.Flow, Lease: l.lease()}
	g, err := l.slots().TakeSlots(ctx, claim, look)
	switch {
	case err != nil:
		l.leave(lims, w)
		return nil, g, wrapLimit(ctx, err)
	case !g.OK:
		return nil, g, nil
	}
	lims = slices.DeleteFunc(slices.Clone(lims), func(t tagLimit) bool { return !slices.Contains(g.Scopes, TaskScope(t.tag)) })
	return l.releaser(lims, l.took(lims, holder, w)), g, nil
}

// wrapLimit says where err comes from, unless the wait was cancelled.
func wrapLimit(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("concurrency limit: %w", err)
}

func tags(lims []tagLimit) []string {
	out := make([]string, len(lims))
	for i, t := range lims {
		out[i] = t.tag
	}
	return out
}

func (l *Limiter) lease() time.Duration {
	if l.Lease <= 0 {
		return DefaultSlotLease
	}
	return l.Lease
}

// limitsOf returns the tags of tags that have a limit, sorted, with the
// smaller of the flow's and the store's; the store's is read again once
// limitTTL old.
func (l *Limiter) limitsOf(ctx context.Context, tags []string) ([]tagLimit, error) {
	tags = slices.Compact(slices.Sorted(slices.Values(tags)))
	var out []tagLimit
	for _, t := range tags {
		st, err := l.storedLimit(ctx, t)
		if err != nil {
			return nil, err
		}
		n, ok := l.Flow[t]
		switch {
		case ok && st.ok:
			n = min(n, st.n)
		case st.ok:
			n, ok = st.n, true
		}
		if ok {
			out = append(out, tagLimit{t, max(n, 0)})
		}
	}
	return out, nil
}

func (l *Limiter) storedLimit(ctx context.Context, tag string) (storedLimit, error) {
	l.mu.Lock()
	st, ok := l.stored[tag]
	l.mu.Unlock()
	if ok && time.Since(st.read) < limitTTL {
		return st, nil
	}
	n, has, err := l.slots().StoredLimit(ctx, tag)
	if err != nil {
		return storedLimit{}, err
	}
	st = storedLimit{n: n, ok: has, read: time.Now()}
	l.mu.Lock()
	if l.stored == nil {
		l.stored = map[string]storedLimit{}
	}
	l.stored[tag] = st
	l.mu.Unlock()
	return st, nil
}

// pool returns the pool of tl's tag, noting its limit now. l.mu is held.
func (l *Limiter) pool(tl tagLimit) *slotPool {
	if l.pools == nil {
		l.pools = map[string]*slotPool{}
	}
	p := l.pools[tl.tag]
	if p == nil {
		p = &slotPool{tag: tl.tag, limit: tl.n, rows: map[string]time.Time{}}
		l.pools[tl.tag] = p
	}
	p.want = tl.n
	if len(p.rows) == 0 {
		p.limit = p.want
	}
	return p
}

// handed returns the holder of the row w was handed, if it was. Else a
// claim of one tag had better wait without asking the store: for yield,
// while its run gives other runs a turn; or, when inUse is not 0, as its
// run holds that tag's whole limit (inUse rows), so that only one of its
// own rows can free one.
func (l *Limiter) handed(lims []tagLimit, w *slotWaiter) (holder string, inUse int, yield time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w != nil && w.holder != "" {
		return w.holder, 0, 0
	}
	if len(lims) != 1 {
		return "", 0, 0
	}
	p := l.pool(lims[0])
	if d := time.Until(p.yield); d > 0 {
		return "", 0, d
	}
	if p.limit == p.want && len(p.rows) >= p.want && p.want > 0 {
		return "", len(p.rows), 0
	}
	return "", 0, 0
}

// took records the rows the store gave holder. If w was handed a row
// meanwhile, the claim keeps that one and the new rows are handed on or
// deleted; it returns the holder the claim holds.
func (l *Limiter) took(lims []tagLimit, holder string, w *slotWaiter) string {
	l.mu.Lock()
	l.dequeue(lims, w)
	if l.rows == nil {
		l.rows = map[string]int{}
	}
	for _, tl := range lims {
		l.pool(tl).rows[holder] = time.Now()
	}
	l.rows[holder] += len(lims)
	l.startRenewing()
	handed := w != nil && w.holder != ""
	l.mu.Unlock()
	if handed {
		l.releaser(lims, holder)()
		return w.holder
	}
	return holder
}

// queue puts a one-tag claim in its pool's queue (a claim of several
// tags is not queued: it looks at the store again when woken).
func (l *Limiter) queue(lims []tagLimit, w *slotWaiter) *slotWaiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(lims) != 1 {
		return nil
	}
	p := l.pool(lims[0])
	if w != nil && (w.holder != "" || slices.Contains(p.queue, w)) {
		return w // still waiting, or handed a row while it asked the store
	}
	w = &slotWaiter{ch: make(chan struct{})}
	p.queue = append(p.queue, w)
	return w
}

// dequeue takes w out of its queue if it is still there. l.mu is held.
func (l *Limiter) dequeue(lims []tagLimit, w *slotWaiter) {
	if w == nil || len(lims) != 1 {
		return
	}
	p := l.pool(lims[0])
	p.queue = slices.DeleteFunc(p.queue, func(q *slotWaiter) bool { return q == w })
}

// leave gives up waiting: w leaves its queue, and a row it was handed
// meanwhile is handed on or deleted.
func (l *Limiter) leave(lims []tagLimit, w *slotWaiter) {
	l.mu.Lock()
	l.dequeue(lims, w)
	l.mu.Unlock()
	if w != nil && w.holder != "" {
		l.releaser(lims, w.holder)()
	}
}

func (l *Limiter) sleep(ctx context.Context, w *slotWaiter, freed <-chan struct{}, wait time.Duration) error {
	var handed <-chan struct{}
	if w != nil {
		handed = w.ch
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-handed:
	case <-freed:
	case <-t.C:
	}
	return nil
}

// releaser returns what frees holder's rows once the attempt's body has
// returned: each goes to the first task run of the run waiting for it,
// else is deleted from the store.
func (l *Limiter) releaser(lims []tagLimit, holder string) func() {
	return func() {
		var scopes []string
		l.mu.Lock()
		for _, tl := range lims {
			p := l.pools[tl.tag]
			taken, ok := p.rows[holder]
			if !ok {
				continue
			}
			turn := time.Since(taken) < SlotTurn
			if p.limit == p.want && len(p.queue) > 0 && turn {
				w := p.queue[0]
				p.queue = p.queue[1:]
				w.holder = holder
				close(w.ch)
				continue
			}
			delete(p.rows, holder)
			if len(p.queue) > 0 { // the limit changed, or a turn ends: the first looks again
				if !turn {
					p.yield = time.Now().Add(MaxSlotPoll)
				}
				close(p.queue[0].ch)
				p.queue = p.queue[1:]
			}
			if len(p.rows) == 0 {
				p.limit = p.want
			}
			scopes = append(scopes, TaskScope(tl.tag))
		}
		if len(scopes) > 0 {
			l.rows[holder] -= len(scopes)
			if l.rows[holder] <= 0 {
				delete(l.rows, holder)
			}
		}
		l.mu.Unlock()
		if len(scopes) > 0 {
			_ = l.slots().FreeSlots(context.Background(), l.RunID, holder, scopes)
		}
	}
}

// startRenewing renews the run's rows every third of their lease while
// it holds some. l.mu is held.
func (l *Limiter) startRenewing() {
	if l.timer == nil {
		l.timer = time.AfterFunc(l.lease()/3, l.renew)
	}
}

func (l *Limiter) renew() {
	l.mu.Lock()
	holders := slices.Collect(maps.Keys(l.rows))
	if len(holders) == 0 {
		l.timer = nil
		l.mu.Unlock()
		return
	}
	l.timer.Reset(l.lease() / 3)
	l.mu.Unlock()
	_ = l.slots().KeepSlots(context.Background(), l.RunID, holders, l.lease())
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
