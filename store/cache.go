package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// CacheEntry is a task result kept for later runs (@task(cache_for=...)),
// under a key that names what the result was computed from.
type CacheEntry struct {
	Key     string    `json:"key"`
	Task    string    `json:"task"`
	Flow    string    `json:"flow"`
	RunID   string    `json:"run_id"`   // the run that computed it
	TaskRun string    `json:"task_run"` // its run name there
	Result  []byte    `json:"-"`        // JSON, as the run's result encoder wrote it
	Created time.Time `json:"created_at"`
	Expires time.Time `json:"expires_at,omitzero"` // zero: never
}

// Expired reports whether e is no longer valid at now.
func (e *CacheEntry) Expired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires)
}

func putCache(tx *sql.Tx, entries []CacheEntry) error {
	for _, e := range entries {
		var exp any
		if !e.Expires.IsZero() {
			exp = e.Expires.UnixNano()
		}
		if _, err := tx.Exec(`INSERT INTO cache (key, task, flow, run_id, task_run, result, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET task = excluded.task, flow = excluded.flow, run_id = excluded.run_id,
				task_run = excluded.task_run, result = excluded.result, created_at = excluded.created_at,
				expires_at = excluded.expires_at`, e.Key, e.Task, e.Flow, e.RunID, e.TaskRun, string(e.Result),
			e.Created.UnixNano(), exp); err != nil {
			return err
		}
	}
	return nil
}

const cacheColumns = `key, task, flow, run_id, task_run, result, created_at, expires_at`

func scanCache(rows interface{ Scan(...any) error }) (CacheEntry, error) {
	var e CacheEntry
	var result string
	var created int64
	var exp sql.NullInt64
	if err := rows.Scan(&e.Key, &e.Task, &e.Flow, &e.RunID, &e.TaskRun, &result, &created, &exp); err != nil {
		return e, err
	}
	e.Result, e.Created, e.Expires = []byte(result), unixNano(created), nullTime(exp)
	return e, nil
}

// CacheGet returns the entry under key, if there is one valid at now.
func (s *Store) CacheGet(ctx context.Context, key string, now time.Time) (CacheEntry, bool, error) {
	e, err := scanCache(s.db.QueryRowContext(ctx, `SELECT `+cacheColumns+` FROM cache
		WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)`, key, now.UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	return e, err == nil, err
}

// CacheFilter selects cache entries; zero fields select all.
type CacheFilter struct {
	Task    string    // entries of this task
	Expired time.Time // if set, only the entries expired at this time
}

func (f CacheFilter) where() (string, []any) {
	q, args := ` WHERE TRUE`, []any(nil)
	if f.Task != "" {
		q += ` AND task = ?`
		args = append(args, f.Task)
	}
	if !f.Expired.IsZero() {
		q += ` AND expires_at IS NOT NULL AND expires_at <= ?`
		args = append(args, f.Expired.UnixNano())
	}
	return q, args
}

// CacheList returns the entries f selects, newest first.
func (s *Store) CacheList(ctx context.Context, f CacheFilter) ([]CacheEntry, error) {
	where, args := f.where()
	rows, err := s.db.QueryContext(ctx, `SELECT `+cacheColumns+` FROM cache`+where+` ORDER BY created_at DESC, key`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CacheEntry
	for rows.Next() {
		e, err := scanCache(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CacheClear deletes the entries f selects and returns how many.
func (s *Store) CacheClear(ctx context.Context, f CacheFilter) (int64, error) {
	where, args := f.where()
	var n int64
	err := retryBusy(func() error {
		res, err := s.db.ExecContext(ctx, `DELETE FROM cache`+where, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return n, err
}
