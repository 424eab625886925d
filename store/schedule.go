package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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
// whose RunInfo has Claimed set.
func (s *Store) ClaimRun(ctx context.Context, ri RunInfo) error {
	return s.insertScheduled(ctx, ri, runtime.Running, "", false)
}

// RecordSkipped records a scheduled run that does not run (the overlap
// policy skipped it), as Cancelled with msg and finished at once. Its
// key is taken as ClaimRun takes it.
func (s *Store) RecordSkipped(ctx context.Context, ri RunInfo, msg string) error {
	return s.insertScheduled(ctx, ri, runtime.Cancelled, msg, true)
}

func (s *Store) insertScheduled(ctx context.Context, ri RunInfo, st runtime.State, msg string, finished bool) error {
	if ri.Scheduled.IsZero() {
		return fmt.Errorf("run %s: not a scheduled run", ri.ID)
	}
	now := time.Now().UnixNano()
	var fin any
	if finished {
		fin = now
	}
	sa, sid, key := scheduledColumns(ri.Scheduled)
	err := retryBusy(func() error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, message,
				started_at, finished_at, pid, scheduled_at, schedule_id, schedule_key, late)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ri.ID, ri.Flow, ri.File, ri.FileSHA256, jsonObject(ri.Parameters), jsonObject(ri.Context),
			st.String(), msg, now, fin, os.Getpid(), sa, sid, key, ri.Scheduled.Late)
		return err
	})
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return fmt.Errorf("%w: %s", ErrKeyTaken, ri.Scheduled.Key)
	}
	return err
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
