package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Concurrency limits on task tags (docs/store.md, "Limits"). A task run
// tagged db holds a slot of scope "task:db" while its body runs: a row of
// table slots with its run, its name (the holder) and a lease. The limit
// of db is the smaller of the flow's own (@flow(limits=...)) and the
// store's (table limits, `wfsh limit set`). A slot counts while its lease
// has not lapsed, so a holder that died frees it when its lease lapses;
// there is no counter to drift from the rows.

// TaskScope is the scope of the slots of task runs tagged tag.
func TaskScope(tag string) string { return "task:" + tag }

// SlotClaim is what a task run asks for: a slot of each of its tags that
// has a limit.
type SlotClaim struct {
	RunID  string
	Holder string   // the task run's name in its run ("load", "query[3]")
	Tags   []string // the task's tags
	// Flow holds the flow's own limits, by tag (nil: none).
	Flow  map[string]int
	Lease time.Duration
}

// SlotGrant is the answer to a SlotClaim.
type SlotGrant struct {
	OK     bool     // the slots are held (or no tag has a limit)
	Scopes []string // the scopes of the slots held, when OK
	// When not OK: the first tag whose limit is full, its limit and the
	// slots in use, and the first time one of those lapses (zero: none
	// has a lease).
	Full        string
	Limit, Used int
	Lapse       time.Time
}

// limitOf returns the limit of tag for c: the smaller of the flow's and
// the store's, and false when neither has one.
func limitOf(ctx context.Context, q querier, c *SlotClaim, tag string) (int, bool, error) {
	n, ok := c.Flow[tag]
	var stored int
	err := q.QueryRowContext(ctx, `SELECT slots FROM limits WHERE name = ?`, tag).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return n, ok, nil
	case err != nil:
		return 0, false, err
	case ok:
		return max(min(n, stored), 0), true, nil
	}
	return max(stored, 0), true, nil
}

// AcquireSlots takes a slot of each limited tag of c, all in one
// transaction, if each has room at now; none if one is full (OK false,
// with the tag that is). Slots whose lease lapsed are deleted on the way.
// On PostgreSQL each scope is locked (in the order of the tags' names)
// before its slots are counted, so that two processes cannot both take
// the last slot.
func (s *Store) AcquireSlots(ctx context.Context, c *SlotClaim, now time.Time) (SlotGrant, error) {
	return s.acquireSlots(ctx, c, now, true)
}

// acquireSlots is AcquireSlots; with look, it reads first, without the
// write lock, so that a claim that would find a limit full, or no limit
// at all, costs no write: what a claim that waits does.
func (s *Store) acquireSlots(ctx context.Context, c *SlotClaim, now time.Time, look bool) (SlotGrant, error) {
	tags := slices.Clone(c.Tags)
	slices.Sort(tags)
	limited := slices.Compact(tags)
	if look {
		g, l, err := s.checkSlots(ctx, s.db, c, limited, now)
		if err != nil || !g.OK || len(l) == 0 {
			return g, err
		}
		limited = l
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return SlotGrant{}, err
	}
	defer tx.Rollback()
	if s.pg {
		for _, t := range limited {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, scopeLock(TaskScope(t))); err != nil {
				return SlotGrant{}, err
			}
		}
	}
	g, limited, err := s.checkSlots(ctx, tx, c, limited, now)
	if err != nil || !g.OK || len(limited) == 0 {
		return g, err
	}
	until := now.Add(c.Lease).UnixNano()
	for _, t := range limited {
		if _, err := tx.ExecContext(ctx, `INSERT INTO slots (scope, run_id, holder, lease_until) VALUES (?, ?, ?, ?)
			ON CONFLICT (scope, run_id, holder) DO UPDATE SET lease_until = excluded.lease_until`,
			TaskScope(t), c.RunID, c.Holder, until); err != nil {
			return SlotGrant{}, err
		}
		g.Scopes = append(g.Scopes, TaskScope(t))
	}
	return g, tx.Commit()
}

// checkSlots returns the tags of tags that have a limit, and whether each
// has room at now. In a transaction (q a *sql.Tx), it deletes the slots
// whose lease lapsed of each limited scope that has some.
func (s *Store) checkSlots(ctx context.Context, q querier, c *SlotClaim, tags []string, now time.Time) (SlotGrant, []string, error) {
	var limited []string
	for _, t := range tags {
		n, ok, err := limitOf(ctx, q, c, t)
		if err != nil || !ok {
			if err != nil {
				return SlotGrant{}, nil, err
			}
			continue
		}
		limited = append(limited, t)
		var used, lapsed int
		var lapse sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT
				coalesce(sum(CASE WHEN lease_until IS NULL OR lease_until > ? THEN 1 ELSE 0 END), 0),
				coalesce(sum(CASE WHEN lease_until <= ? THEN 1 ELSE 0 END), 0),
				min(CASE WHEN lease_until > ? THEN lease_until END)
			FROM slots WHERE scope = ? AND NOT (run_id = ? AND holder = ?)`,
			now.UnixNano(), now.UnixNano(), now.UnixNano(), TaskScope(t), c.RunID, c.Holder).Scan(&used, &lapsed, &lapse); err != nil {
			return SlotGrant{}, nil, err
		}
		// The rows of holders that died are deleted by the next claim
		// that takes the write lock.
		if tx, ok := q.(*sql.Tx); ok && lapsed > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM slots WHERE scope = ? AND lease_until <= ?`, TaskScope(t), now.UnixNano()); err != nil {
				return SlotGrant{}, nil, err
			}
		}
		if used >= n {
			g := SlotGrant{Full: t, Limit: n, Used: used}
			if lapse.Valid {
				g.Lapse = unixNano(lapse.Int64)
			}
			return g, nil, nil
		}
	}
	return SlotGrant{OK: true}, limited, nil
}

// RenewSlots extends the lease of the slots a holder holds to until.
func (s *Store) RenewSlots(ctx context.Context, runID, holder string, until time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE slots SET lease_until = ? WHERE run_id = ? AND holder = ? AND lease_until IS NOT NULL`,
		until.UnixNano(), runID, holder)
	return err
}

// ReleaseSlots frees the slots a holder holds (of scopes only, if some
// are named), and wakes the claims of this process that wait for one
// (other processes: docs/store.md).
func (s *Store) ReleaseSlots(ctx context.Context, runID, holder string, scopes ...string) error {
	q, args := `DELETE FROM slots WHERE run_id = ? AND holder = ? AND lease_until IS NOT NULL`, []any{runID, holder}
	if len(scopes) > 0 {
		q += ` AND scope IN (?` + strings.Repeat(`, ?`, len(scopes)-1) + `)`
		for _, sc := range scopes {
			args = append(args, sc)
		}
	}
	_, err := s.db.ExecContext(ctx, q, args...)
	s.freed.broadcast()
	if err == nil {
		err = s.notify(ctx, slotsChannel)
	}
	return err
}

// broadcaster wakes every goroutine waiting on it at once: each waits on
// the channel it got from wait, which the next broadcast closes.
// Each broadcast counts: seq tells a waiter elsewhere (a server's long
// poll) whether one came since it last looked.
type broadcaster struct {
	mu  sync.Mutex
	ch  chan struct{}
	seq uint64
}

func (b *broadcaster) wait() <-chan struct{} {
	_, ch := b.next()
	return ch
}

// next is the count of broadcasts so far, and the channel the next one
// closes.
func (b *broadcaster) next() (uint64, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.seq, b.ch
}

func (b *broadcaster) broadcast() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
