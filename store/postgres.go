package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/wfsh/wfsh/runtime"
)

// The store on PostgreSQL (docs/store.md): the same tables, queries and
// schema versions as on SQLite, through a small dialect layer. The
// queries are written in the subset both speak, with SQLite's `?`
// placeholders, which the connection rebinds to `$1, $2, ...`; the
// schema is written with SQLite's types (TEXT, INTEGER, BLOB), which
// postgresDDL maps. What only SQLite has (PRAGMAs, checkpoints, the
// integrity check, crash marking by pid) is skipped.

// IsPostgres reports whether loc names a PostgreSQL database
// (postgres://... or postgresql://...) rather than a SQLite file.
func IsPostgres(loc string) bool {
	return strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://")
}

// openPostgres opens the store in the PostgreSQL database at dsn.
func openPostgres(dsn string) (*Store, error) {
	where := redactURL(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("run store %s: %w", where, err)
	}
	db := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	keepConns(db)
	s := &Store{db: db, path: where, pg: true, self: runtime.NewRunID()}
	if err := s.setUp(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", where, err)
	}
	return s, nil
}

// Idle connections kept open (database/sql keeps 2 by default), and for
// how long one may stay idle.
const (
	pgIdleConns   = 16
	pgIdleTimeout = 5 * time.Minute
)

// keepConns keeps up to pgIdleConns connections open between
// statements. A server's requests come several at once (claims, a run's
// writes, heartbeats): with the default of 2 nearly every run opened a
// connection of its own, which PostgreSQL serves with a new process (and
// pgx prepares each statement again on it): 269 connections for 300 runs
// of BenchmarkThroughput, and more CPU in PostgreSQL than in the server.
func keepConns(db *sql.DB) {
	db.SetMaxIdleConns(pgIdleConns)
	db.SetConnMaxIdleTime(pgIdleTimeout)
}

// redactURL is dsn without its password, to be shown.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://..."
	}
	return u.Redacted()
}

// pgConnector hands out pgx's connections wrapped in pgConn.
type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection that takes the store's queries as written
// for both databases: `?` placeholders, booleans as integers, text
// PostgreSQL can hold.
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(q string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(context.Background(), rebind(q))
}

func (c pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(q))
}

func (c pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(q), args)
}

func (c pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(q), args)
}

// CheckNamedValue converts what SQLite takes and PostgreSQL does not: a
// bool for an INTEGER column becomes 1 or 0; a string that is not valid
// UTF-8, or holds NUL (PostgreSQL's text can hold neither), gets U+FFFD
// in place of each bad byte and NUL.
func (c pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	switch v := nv.Value.(type) {
	case bool:
		nv.Value = int64(0)
		if v {
			nv.Value = int64(1)
		}
	case string:
		nv.Value = pgText(v)
	}
	return nil
}

// pgText is s as PostgreSQL's text can hold it.
func pgText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// rebind turns the `?` placeholders of q into `$1, $2, ...`, leaving
// those in quoted strings, quoted names and comments.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		case c == '\'' || c == '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 { // unterminated: the server will say so
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// postgresDDL maps schema text written with SQLite's types to
// PostgreSQL: INTEGER is BIGINT (SQLite's are 64 bits), BLOB is BYTEA,
// TEXT compares bytes as SQLite's does (COLLATE "C": the same order of
// ids and names on both, whatever the database's locale), and WITHOUT
// ROWID, a storage choice of SQLite's, goes. Types are matched as whole
// upper-case words.
func postgresDDL(ddl string) string {
	return ddlTypes().ReplaceAllStringFunc(ddl, func(w string) string {
		switch {
		case w == "INTEGER":
			return "BIGINT"
		case w == "BLOB":
			return "BYTEA"
		case w == "TEXT":
			return `TEXT COLLATE "C"`
		default: // WITHOUT ROWID
			return ""
		}
	})
}

// ddlTypes is compiled on first use (PostgreSQL only), not at every wfsh
// start.
var ddlTypes = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\bINTEGER\b|\bBLOB\b|\bTEXT\b|\s*\bWITHOUT ROWID\b`)
})

// postgresBaseline is the schema of version postgresBaselineVersion, as
// one script: a new PostgreSQL database starts there, as migrations 1 to
// 4 move data in ways only SQLite speaks (its JSON functions) and there
// is no data to move. Every later migration runs on both. The columns are
// in the order SQLite has them after migrations 1 to 4 (tested).
const postgresBaseline = `CREATE TABLE dags (
		hash TEXT PRIMARY KEY,
		dag  TEXT NOT NULL
	);
	CREATE TABLE runs (
		id           TEXT PRIMARY KEY,
		flow         TEXT NOT NULL,
		file         TEXT NOT NULL,
		file_sha256  TEXT NOT NULL,
		parameters   TEXT NOT NULL DEFAULT '{}',
		context      TEXT NOT NULL DEFAULT '{}',
		state        TEXT NOT NULL,
		message      TEXT NOT NULL DEFAULT '',
		started_at   INTEGER NOT NULL,
		finished_at  INTEGER,
		pid          INTEGER NOT NULL,
		dag          TEXT REFERENCES dags (hash),
		resumed_from TEXT,
		scheduled_at INTEGER,
		schedule_id  TEXT,
		schedule_key TEXT,
		late         INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX runs_started ON runs (started_at);
	CREATE INDEX runs_flow ON runs (flow, started_at);
	CREATE INDEX runs_state ON runs (state);
	CREATE UNIQUE INDEX runs_schedule_key ON runs (schedule_key);
	CREATE INDEX runs_schedule ON runs (flow, schedule_id, scheduled_at);
	CREATE TABLE chunks (
		run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		seq      INTEGER NOT NULL,
		tasks    TEXT NOT NULL,
		children TEXT NOT NULL,
		logs     TEXT NOT NULL,
		logs_z   BLOB,
		PRIMARY KEY (run_id, seq)
	);
	CREATE TABLE cache (
		key        TEXT PRIMARY KEY,
		task       TEXT NOT NULL,
		flow       TEXT NOT NULL,
		run_id     TEXT NOT NULL,
		task_run   TEXT NOT NULL,
		result     TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER
	);
	CREATE INDEX cache_task ON cache (task, created_at);
	CREATE INDEX cache_expires ON cache (expires_at);`

const postgresBaselineVersion = 4

// scopeLock is the key of the advisory lock of a concurrency scope
// (server.go, takeSlots): a 63-bit FNV-1a hash of its name. Two scopes
// that share a key only wait for each other.
func scopeLock(scope string) int64 {
	h := fnv.New64a()
	h.Write([]byte("wfsh scope " + scope))
	return int64(h.Sum64() >> 1)
}

// migrationLock is the key of the advisory lock a migrating process holds
// on PostgreSQL (SQLite's immediate transactions do the same there).
const migrationLock = 0x77667368 // "wfsh"

// migratePostgres applies the missing migrations, each in its own
// transaction under the advisory lock: a new database gets the
// baseline, then the migrations after it.
func (s *Store) migratePostgres(ctx context.Context) error {
	for {
		done, err := s.migrateOnePostgres(ctx)
		if err != nil || done {
			return err
		}
	}
}

func (s *Store) migrateOnePostgres(ctx context.Context) (done bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, migrationLock); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`); err != nil {
		return false, err
	}
	v, err := version(ctx, tx)
	if err != nil {
		return false, err
	}
	if v > len(migrations) {
		return false, fmt.Errorf("schema version %d is newer than this wfsh knows (%d): upgrade wfsh", v, len(migrations))
	}
	if v == len(migrations) {
		return true, nil
	}
	next, script := v+1, ""
	switch {
	case v == 0:
		next, script = postgresBaselineVersion, postgresBaseline
	case v < postgresBaselineVersion:
		return false, fmt.Errorf("schema version %d: a PostgreSQL store starts at version %d", v, postgresBaselineVersion)
	default:
		script = migrations[v]
	}
	if _, err := tx.ExecContext(ctx, postgresDDL(script)); err != nil {
		return false, fmt.Errorf("migration %d: %w", next, err)
	}
	if err := setVersion(ctx, tx, next); err != nil {
		return false, err
	}
	return false, tx.Commit()
}
