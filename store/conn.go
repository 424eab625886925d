package store

import (
	"context"
	"database/sql/driver"
	"os"
	"reflect"

	"modernc.org/libc"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// connector opens the store's connections and turns off, on each, the
// checkpoint SQLite runs when the last connection to a database closes.
//
// That checkpoint copies the write-ahead log into the database and syncs
// both files to disk: two fsyncs at the end of every `wfsh run`, which
// cost more than a small run itself (docs/store.md). Without it the log
// stays beside the database (wfsh.db-wal) and the next process reads it
// on open, exactly as after a kill; SQLite checkpoints it when it grows
// past wal_autocheckpoint pages, from the writer that made it grow, which
// in `wfsh run` is the recorder's goroutine.
type connector struct{ driver.Connector }

func newConnector(dsn string) (driver.Connector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return connector{base}, nil
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	noCheckpointOnClose(conn)
	return conn, nil
}

// noCheckpointOnClose sets SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE on conn and
// reports whether it could. The driver offers sqlite3_db_config only for
// the options of its DSN, so this reads the connection's SQLite handle
// and thread state from its fields, db and tls; if a version of the
// driver renames them, nothing is set and closing checkpoints as usual
// (TestCloseKeepsLog notices).
func noCheckpointOnClose(conn driver.Conn) bool {
	v := reflect.ValueOf(conn)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	db, tls := v.Elem().FieldByName("db"), v.Elem().FieldByName("tls")
	if !db.IsValid() || db.Kind() != reflect.Uintptr || !tls.IsValid() ||
		tls.Type() != reflect.TypeFor[*libc.TLS]() || tls.IsNil() {
		return false
	}
	t := (*libc.TLS)(tls.UnsafePointer())
	// sqlite3_db_config(db, op, int onoff, int *pRes): two 8-byte slots.
	va := libc.Xmalloc(t, 16)
	if va == 0 {
		return false
	}
	defer libc.Xfree(t, va)
	rc := sqlite3.Xsqlite3_db_config(t, uintptr(db.Uint()), sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
		libc.VaList(va, int32(1), uintptr(0)))
	return rc == sqlite3.SQLITE_OK
}

// MaxLogSize is how large the write-ahead log may be left when a
// recorder closes.
const MaxLogSize = 4 << 20

// trimLog empties the write-ahead log when it has grown past MaxLogSize:
// the next process to open the store would read all of it (SQLite
// rebuilds its index of the log from the file when no process has the
// store open). So a run that wrote a lot (W2 writes about 5.5 MB) pays for
// copying it into the database, two fsyncs; one that wrote little leaves
// it to a later one. Failing that (another process is reading), it is
// left as it is.
func (s *Store) trimLog() {
	if s.pg {
		return
	}
	st, err := os.Stat(s.path + "-wal")
	if err != nil || st.Size() <= MaxLogSize {
		return
	}
	_, _ = s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
}
