// Package store keeps the history of flow runs in an embedded SQLite
// database: every run, its task runs and its log lines, recorded from the
// executor's event stream by a Recorder (a runtime.Sink) and read back by
// `wfsh runs`, `wfsh show` and `wfsh logs`. It knows nothing of Starlark:
// values reach it only through an encoder its caller provides.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wfsh/wfsh/runtime"
)

// Store is an open run store. Several processes may open the same file at
// once: it is in WAL mode, and writers wait for each other.
type Store struct {
	db   *sql.DB
	path string
}

// BusyTimeout is how long a writer waits for another to finish.
const BusyTimeout = 30 * time.Second

// ErrNotFound is returned when no run matches.
var ErrNotFound = errors.New("no such run")

// DefaultPath returns where the store lives when no --store is given:
// $WFSH_HOME/wfsh.db, else ~/.wfsh/wfsh.db.
func DefaultPath() (string, error) {
	if home := os.Getenv("WFSH_HOME"); home != "" {
		return filepath.Join(home, "wfsh.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("run store: %w (set WFSH_HOME or pass --store)", err)
	}
	return filepath.Join(home, ".wfsh", "wfsh.db"), nil
}

// Open opens (creating it if need be) the store at path, brings its schema
// up to date and marks Crashed the runs whose process has died.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("run store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := retryBusy(func() error { return s.setUp(context.Background()) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) setUp(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return err
	}
	return s.markCrashed(ctx, time.Now())
}

// retryBusy calls f again while it fails with SQLITE_BUSY, for at most
// BusyTimeout. The busy timeout covers most waits, but not all: SQLite
// does not wait when two connections race to switch a new database to WAL.
func retryBusy(f func() error) error {
	deadline := time.Now().Add(BusyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := f()
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
	}
}

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// markCrashed marks Crashed every unfinished run whose process is gone,
// with its unfinished task runs.
func (s *Store) markCrashed(ctx context.Context, now time.Time) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, pid FROM runs WHERE state IN (`+unfinishedStates+`)`)
	if err != nil {
		return err
	}
	type dead struct {
		id  string
		pid int
	}
	var gone []dead
	for rows.Next() {
		var d dead
		if err := rows.Scan(&d.id, &d.pid); err != nil {
			rows.Close()
			return err
		}
		if !processAlive(d.pid) {
			gone = append(gone, d)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range gone {
		if err := s.crash(ctx, d.id, d.pid, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) crash(ctx context.Context, id string, pid int, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	msg := fmt.Sprintf("the wfsh process (pid %d) died before the run finished", pid)
	crashed := runtime.Crashed.String()
	// The run ended, as far as anyone knows, with the last thing recorded
	// of it, not when the crash was noticed.
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(t) FROM (
		SELECT started_at AS t FROM runs WHERE id = ?1
		UNION ALL SELECT max(time) FROM logs WHERE run_id = ?1
		UNION ALL SELECT max(coalesce(finished_at, started_at)) FROM task_runs WHERE run_id = ?1)`, id).Scan(&last); err != nil {
		return err
	}
	if last.Valid {
		now = time.Unix(0, last.Int64)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, message = ?, finished_at = ?
		WHERE id = ? AND state IN (`+unfinishedStates+`)`, crashed, msg, now.UnixNano(), id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE task_runs SET state = ?, message = ?, finished_at = ?
		WHERE run_id = ? AND state IN (`+unfinishedStates+`)`, crashed, msg, now.UnixNano(), id); err != nil {
		return err
	}
	if err := crashChildren(ctx, tx, id, msg, now.UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// unfinishedStates lists, for SQL, the states that are not final.
var unfinishedStates = func() string {
	var s string
	for st := runtime.Pending; st <= runtime.Crashed; st++ {
		if !st.Finished() {
			if s != "" {
				s += ", "
			}
			s += "'" + st.String() + "'"
		}
	}
	return s
}()
