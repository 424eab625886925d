package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// ErrKeyTaken is returned when a scheduled run's key is already in the
// store: another scheduler (or an earlier life of this one) made that
// run.
var ErrKeyTaken = errors.New("scheduled run already made")

func scheduledColumns(s Scheduled) (at, id, key any) {
	if s.IsZero() {
		return nil, nil, nil
	}
	return s.At.UnixNano(), s.ScheduleID, s.Key
}

// ClaimRun inserts the row of a scheduled run at once, in state Running
// with this process's id, so that its unique key decides which of several
// schedulers makes it: when the key is taken it returns an error that
// wraps ErrKeyTaken and inserts nothing. Record the run with a Recorder
// whose RunInfo has Claimed set. Claims made at once, from many
// goroutines, are written in one transaction.
func (s *Store) ClaimRun(ri RunInfo) error {
	return s.insertScheduled(ri, runtime.Running, "", false)
}

// RecordSkipped records a scheduled run that does not run (the overlap
// policy skipped it), as Cancelled with msg and finished at once. Its
// key is taken as ClaimRun takes it.
func (s *Store) RecordSkipped(ri RunInfo, msg string) error {
	return s.insertScheduled(ri, runtime.Cancelled, msg, true)
}

func (s *Store) insertScheduled(ri RunInfo, st runtime.State, msg string, finished bool) error {
	if ri.Scheduled.IsZero() {
		return fmt.Errorf("run %s: not a scheduled run", ri.ID)
	}
	c := &claim{ri: ri, state: st, msg: msg, finished: finished, done: make(chan error, 1)}
	q := &s.claims
	q.mu.Lock()
	q.pending = append(q.pending, c)
	if !q.writing {
		// No one is writing: this caller writes what is pending, and what
		// comes meanwhile, in one transaction a batch.
		q.writing = true
		for len(q.pending) > 0 {
			batch := q.pending
			q.pending = nil
			q.mu.Unlock()
			s.writeClaims(batch)
			q.mu.Lock()
		}
		q.writing = false
	}
	q.mu.Unlock()
	// Not abandoned when ctx ends: a claim that is written has a row,
	// which only this process can finish.
	return <-c.done
}

// claimQueue gathers the scheduled runs to insert: when many fall due at
// once (a thousand flows on the same minute), they are inserted in a few
// transactions, not one each, which would queue on SQLite's write lock.
type claimQueue struct {
	mu      sync.Mutex
	pending []*claim
	writing bool // a caller is writing batches
}

type claim struct {
	ri       RunInfo
	state    runtime.State
	msg      string
	finished bool
	done     chan error
}

// writeClaims inserts a batch of scheduled runs in one transaction; a run
// whose key is taken is left out (ErrKeyTaken to its caller), the others
// are inserted.
func (s *Store) writeClaims(batch []*claim) {
	taken := make([]bool, len(batch))
	err := retryBusy(func() error {
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		stmt, err := tx.Prepare(`INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, message,
				started_at, finished_at, pid, scheduled_at, schedule_id, schedule_key, late)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (schedule_key) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		now := time.Now().UnixNano()
		for i, c := range batch {
			ri := c.ri
			var fin any
			if c.finished {
				fin = now
			}
			sa, sid, key := scheduledColumns(ri.Scheduled)
			res, err := stmt.Exec(ri.ID, ri.Flow, ri.File, ri.FileSHA256, jsonObject(ri.Parameters), jsonObject(ri.Context),
				c.state.String(), c.msg, now, fin, os.Getpid(), sa, sid, key, ri.Scheduled.Late)
			if err != nil {
				return fmt.Errorf("run %s: %w", ri.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			taken[i] = n == 0
		}
		return tx.Commit()
	})
	for i, c := range batch {
		switch {
		case err != nil:
			c.done <- err
		case taken[i]:
			c.done <- fmt.Errorf("%w: %s", ErrKeyTaken, c.ri.Scheduled.Key)
		default:
			c.done <- nil
		}
	}
}

// LastScheduled is the newest scheduled time of the runs of flow made by
// schedule scheduleID, whatever became of them, or the zero time when
// there is none.
func (s *Store) LastScheduled(ctx context.Context, flow, scheduleID string) (time.Time, error) {
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(scheduled_at) FROM runs WHERE flow = ? AND schedule_id = ?`,
		flow, scheduleID).Scan(&n)
	return nullTime(n), err
}
