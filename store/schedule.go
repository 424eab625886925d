package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
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
// goroutines, are written in one transaction (Store.inGroup).
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
	var taken bool
	// In a transaction shared with the other runs that start now: a
	// thousand scheduled runs falling due together make a few
	// transactions. Not abandoned when a context ends: a claim that is
	// written has a row, which only this process can finish.
	err := s.inGroup(true, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		var fin any
		if finished {
			fin = now
		}
		sa, sid, key := scheduledColumns(ri.Scheduled)
		res, err := tx.Exec(`INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, message,
				started_at, finished_at, pid, scheduled_at, schedule_id, schedule_key, late)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (schedule_key) DO NOTHING`,
			ri.ID, ri.Flow, ri.File, ri.FileSHA256, jsonObject(ri.Parameters), jsonObject(ri.Context),
			st.String(), msg, now, fin, os.Getpid(), sa, sid, key, ri.Scheduled.Late)
		if err != nil {
			return fmt.Errorf("run %s: %w", ri.ID, err)
		}
		n, err := res.RowsAffected()
		taken = n == 0
		return err
	})
	switch {
	case err != nil:
		return err
	case taken:
		return fmt.Errorf("%w: %s", ErrKeyTaken, ri.Scheduled.Key)
	}
	return nil
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
