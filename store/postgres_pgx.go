//go:build !wfshlight

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/wfsh/wfsh/runtime"
)

// The PostgreSQL driver (pgx). The light wfsh (build tag wfshlight) does
// not link it: it hands a command on a PostgreSQL store to wfsh-full
// (postgres_light.go; docs/architecture.md, "Two executables").

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

// listenOnce LISTENs on channel on a connection of its own and calls
// changed at each notification, until the connection or ctx ends.
func (s *Store) listenOnce(ctx context.Context, channel string, changed func()) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(pgConn)
		if !ok {
			return errors.New("listen: not a PostgreSQL connection")
		}
		c := pc.Conn.Conn()
		if _, err := c.Exec(ctx, "LISTEN "+channel); err != nil {
			return err
		}
		for {
			n, err := c.WaitForNotification(ctx)
			if err != nil {
				// The connection may be mid-wait: not fit for the pool.
				return driver.ErrBadConn
			}
			if n.Payload != s.self {
				changed() // this store's own changes woke its waiters already
			}
		}
	})
}
