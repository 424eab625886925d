package store

import (
	"context"
	"time"
)

// Pruned is what Prune deleted.
type Pruned struct {
	Runs  int64 // runs, with their task runs and logs
	Cache int64 // expired cache entries
}

// Prune deletes the runs that started before before and are over (a run
// in progress is kept, however old), with their task runs and logs, the
// graphs no run refers to any more, and the cache entries expired at now.
// Cached results whose run is pruned stay until they expire: they are
// stored whole in the cache. It is one transaction: a run is deleted
// whole or not at all.
func (s *Store) Prune(ctx context.Context, before, now time.Time) (Pruned, error) {
	var p Pruned
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return p, err
	}
	defer tx.Rollback()
	old := `SELECT id FROM runs WHERE started_at < ? AND state NOT IN (` + unfinishedStates + `)`
	if _, err := tx.ExecContext(ctx, `DELETE FROM chunks WHERE run_id IN (`+old+`)`, before.UnixNano()); err != nil {
		return p, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id IN (`+old+`)`, before.UnixNano())
	if err != nil {
		return p, err
	}
	if p.Runs, err = res.RowsAffected(); err != nil {
		return p, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM dags WHERE hash NOT IN (SELECT dag FROM runs WHERE dag IS NOT NULL)`); err != nil {
		return p, err
	}
	res, err = tx.ExecContext(ctx, `DELETE FROM cache WHERE expires_at IS NOT NULL AND expires_at <= ?`, now.UnixNano())
	if err != nil {
		return p, err
	}
	if p.Cache, err = res.RowsAffected(); err != nil {
		return p, err
	}
	return p, tx.Commit()
}

// Vacuum gives the space of deleted rows back to the file system: SQLite
// otherwise keeps the free pages in the file for later writes. It
// rewrites the whole database, and needs as much free disk space again.
// On PostgreSQL it is a plain VACUUM: the space of deleted rows is made
// free for later writes, and given back only at the tables' ends; it
// takes no lock that would stop the other processes sharing the database
// (VACUUM FULL would, while it rewrites every table).
func (s *Store) Vacuum(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
		return err
	}
	if s.pg {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
