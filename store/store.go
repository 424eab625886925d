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
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite" // the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wfsh/wfsh/runtime"
)

// Store is an open run store. Several processes may open the same file at
// once: it is in WAL mode, and writers wait for each other.
type Store struct {
	db   *sql.DB
	path string // the file, or the PostgreSQL URL without its password
	pg   bool   // on PostgreSQL (postgres.go), not SQLite
	// self names this open store in its notifications (PostgreSQL), so
	// that it does not wake its own waiters twice: it wakes them itself.
	self string

	group writeGroup // writes shared between goroutines (group.go)

	freed      broadcaster // a task run's slot was freed (limits.go)
	listenSlot sync.Once   // PostgreSQL: slots freed by other processes wake freed
	stopListen func()      // ends that listener; nil if none started
	mu         sync.Mutex  // guards stopListen

	chunkOnce sync.Once
	chunk     *sql.Stmt // insertChunk, prepared once for every recorder
}

// chunkStmt is insertChunk prepared, once for the store: a statement per
// recorder would be prepared again on each connection it meets, and kept
// there until the run ends. Nil if it cannot be prepared (then each
// insert parses it).
func (s *Store) chunkStmt() *sql.Stmt {
	s.chunkOnce.Do(func() { s.chunk, _ = s.db.Prepare(insertChunk) })
	return s.chunk
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
// up to date and marks Crashed the runs whose process has died. A path
// that is a postgres:// or postgresql:// URL opens the store in that
// PostgreSQL database instead (postgres.go).
func Open(path string) (*Store, error) {
	if IsPostgres(path) {
		return openPostgres(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(NORMAL)")
	// Checkpoint from the writer once the log holds 4 MiB (of 16 KiB pages).
	q.Add("_pragma", "wal_autocheckpoint(256)")
	q.Set("_txlock", "immediate")
	c, err := newConnector("file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("run store %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	s := &Store{db: db, path: path}
	if err := retryBusy(func() error { return s.setUp(context.Background()) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", path, err)
	}
	return s, nil
}

// createPrivate creates the database file, empty, readable by its owner
// only, if it does not exist: SQLite would create it 0644, and it gives
// the write-ahead log and its index (-wal, -shm) the database's mode. A
// store that exists keeps the mode it has.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Opening is a store being opened by another goroutine, so that a run
// does not wait for it while its flow loads and builds.
type Opening struct {
	done chan struct{}
	s    *Store
	err  error
}

// OpenLater starts opening the store at path, as Open does. Only the
// directory is made before it returns: most ways a store cannot be
// opened (a file where the directory should be, no permission) show
// there, before a run starts.
func OpenLater(path string) (*Opening, error) {
	if IsPostgres(path) {
		// No directory: a database, opened as a file is.
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	o := &Opening{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		o.s, o.err = Open(path)
	}()
	return o, nil
}

// Wait returns the store, once it is open, or why it could not be.
func (o *Opening) Wait() (*Store, error) {
	<-o.done
	return o.s, o.err
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

// Path is the file the store was opened from, or its PostgreSQL URL
// without the password.
func (s *Store) Path() string { return s.path }

// Close closes the database, after the listener of freed slots if one
// started.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.stopListen != nil {
		s.stopListen()
	}
	s.mu.Unlock()
	s.chunkOnce.Do(func() {}) // no statement prepared from here on
	if s.chunk != nil {
		s.chunk.Close()
	}
	return s.db.Close()
}

// markCrashed marks Crashed every unfinished run whose process is gone,
// with its unfinished task runs. Runs a server holds are not this
// machine's: their leases say when they crashed (docs/server.md).
//
// Not on PostgreSQL at all: a database shared by several machines holds
// runs whose pid means nothing here. There the server owns crash
// detection, by leases that lapse (SPEC §5).
func (s *Store) markCrashed(ctx context.Context, now time.Time) error {
	if s.pg {
		return nil
	}
	// A queued run has not started: the next scheduler of its flow runs
	// it (AdoptQueued).
	rows, err := s.db.QueryContext(ctx, `SELECT id, pid FROM runs WHERE state IN (`+unfinishedStates+`) AND deployment_id IS NULL
		AND NOT (`+queuedRuns+`)`)
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
	var started, last int64
	if err := tx.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, id).Scan(&started); err != nil {
		return err
	}
	rr, err := readRun(ctx, tx, id, started, func(e *runtime.Event) error {
		last = max(last, e.Time.UnixNano())
		return nil
	})
	if err != nil {
		return err
	}
	// The run ended, as far as anyone knows, with the last thing recorded
	// of it, not when the crash was noticed.
	if last := max(started, rr.last, last); last > 0 {
		now = unixNano(last)
	}
	if err := crashRecords(ctx, tx, id, started, rr, msg, now.UnixNano()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, message = ?, finished_at = ?
		WHERE id = ? AND state IN (`+unfinishedStates+`)`, runtime.Crashed.String(), msg, now.UnixNano(), id); err != nil {
		return err
	}
	// Its task runs' slots of concurrency limits are free now, not when
	// their leases lapse.
	if _, err := tx.ExecContext(ctx, `DELETE FROM slots WHERE run_id = ? AND lease_until IS NOT NULL`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// crashRecords appends a chunk that marks Crashed the unfinished task
// runs of a run, mapped children included.
func crashRecords(ctx context.Context, tx *sql.Tx, id string, started int64, rr *storedRun, msg string, now int64) error {
	b := newBatch(id, started, nil, nil)
	b.seq = rr.lastSeq + 1
	crashed := false
	for _, r := range rr.records {
		if r.state.Finished() {
			continue
		}
		crashed = true
		c := &record{name: r.name, task: r.task, index: r.index, state: runtime.Crashed, attempts: r.attempts,
			msg: msg, finished: max(now, r.started)}
		if r.index >= 0 {
			b.appendChild(b.children(r.task), c)
			continue
		}
		b.order = append(b.order, c)
	}
	if !crashed {
		return nil
	}
	return b.flush(tx)
}

// unfinishedStates lists, for SQL, the states that are not final.
var unfinishedStates = func() string {
	var s string
	for st := range runtime.State(runtime.NumStates) {
		if !st.Finished() {
			if s != "" {
				s += ", "
			}
			s += "'" + st.String() + "'"
		}
	}
	return s
}()
