package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/runtime"
)

// column is what both databases say of a column, in SQLite's words.
type column struct {
	name, typ string
	notNull   bool
	dflt      string // the default's SQL, "" for none
	pk        int    // its place in the primary key, from 1; 0: none
}

// schema is the tables, each with its columns in order, and the indexes,
// "name ON table (columns)" with "UNIQUE " before unique ones (the name
// "(constraint)" for the index of a UNIQUE constraint).
type schema struct {
	tables  map[string][]column
	indexes []string
}

// TestSchemaSameOnBoth brings a new SQLite store and a new PostgreSQL
// database to SchemaVersion and compares what each says of its schema
// (SQLite's pragmas, PostgreSQL's information schema and catalog): the
// same tables, columns in the same order with the same types (INTEGER as
// BIGINT, BLOB as BYTEA), NOT NULL, defaults, primary keys and indexes.
// The PostgreSQL baseline and migration 1 to 4's SQLite schema thus
// cannot drift apart, nor can a later migration mean different things.
func TestSchemaSameOnBoth(t *testing.T) {
	lite, _ := onSQLite.open(t)
	pg, _ := onPostgres.open(t)
	ctx := context.Background()
	for _, s := range []*Store{lite, pg} {
		if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
			t.Fatalf("version %d, %v; want %d", v, err, SchemaVersion)
		}
	}
	want, err := sqliteSchema(ctx, lite.db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := postgresSchema(ctx, pg.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.tables) < 5 {
		t.Fatalf("SQLite has %d tables: %v", len(want.tables), want.tables)
	}
	for name, cols := range want.tables {
		if !slices.Equal(got.tables[name], cols) {
			t.Errorf("table %s:\nSQLite     %v\nPostgreSQL %v", name, cols, got.tables[name])
		}
	}
	for name := range got.tables {
		if _, ok := want.tables[name]; !ok {
			t.Errorf("table %s on PostgreSQL only", name)
		}
	}
	if !slices.Equal(got.indexes, want.indexes) {
		t.Errorf("indexes:\nSQLite     %q\nPostgreSQL %q", want.indexes, got.indexes)
	}
}

func sqliteSchema(ctx context.Context, db *sql.DB) (schema, error) {
	sc := schema{tables: map[string][]column{}}
	names, err := strings1(ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return sc, err
	}
	for _, table := range names {
		rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			return sc, err
		}
		for rows.Next() {
			var c column
			var dflt sql.NullString
			if err := rows.Scan(&c.name, &c.typ, &c.notNull, &dflt, &c.pk); err != nil {
				rows.Close()
				return sc, err
			}
			// A primary key column may hold NULL in SQLite, by an old bug
			// it keeps; the store never writes one there.
			c.notNull, c.dflt = c.notNull || c.pk > 0, dflt.String
			sc.tables[table] = append(sc.tables[table], c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return sc, err
		}
	}
	// A UNIQUE constraint's index is named by each database in its way.
	rows, err := db.QueryContext(ctx, `SELECT CASE il.origin WHEN 'u' THEN '(constraint)' ELSE il.name END, m.name, il."unique",
			(SELECT group_concat(name, ', ') FROM (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno))
		FROM sqlite_master AS m, pragma_index_list(m.name) AS il
		WHERE m.type = 'table' AND il.origin IN ('c', 'u')`)
	if err != nil {
		return sc, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, table, cols string
		var unique bool
		if err := rows.Scan(&name, &table, &unique, &cols); err != nil {
			return sc, err
		}
		sc.indexes = append(sc.indexes, indexString(name, table, cols, unique))
	}
	slices.Sort(sc.indexes)
	return sc, rows.Err()
}

func postgresSchema(ctx context.Context, db *sql.DB) (schema, error) {
	sc := schema{tables: map[string][]column{}}
	rows, err := db.QueryContext(ctx, `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO', coalesce(c.column_default, ''),
			coalesce((SELECT k.ordinal_position FROM information_schema.key_column_usage AS k
				JOIN information_schema.table_constraints AS tc USING (constraint_schema, constraint_name)
				WHERE tc.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema
					AND k.table_name = c.table_name AND k.column_name = c.column_name), 0)
		FROM information_schema.columns AS c
		WHERE c.table_schema = current_schema()
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return sc, err
	}
	defer rows.Close()
	types := map[string]string{"bigint": "INTEGER", "text": "TEXT", "bytea": "BLOB"}
	for rows.Next() {
		var table, typ string
		var c column
		if err := rows.Scan(&table, &c.name, &typ, &c.notNull, &c.dflt, &c.pk); err != nil {
			return sc, err
		}
		c.typ = types[typ]
		if c.typ == "" {
			c.typ = "PostgreSQL " + typ
		}
		// '{}'::text is '{}'.
		c.dflt, _, _ = strings.Cut(c.dflt, "::")
		sc.tables[table] = append(sc.tables[table], c)
	}
	if err := rows.Err(); err != nil {
		return sc, err
	}
	rows, err = db.QueryContext(ctx, `SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)
				THEN '(constraint)' ELSE i.relname END, t.relname, x.indisunique,
			(SELECT string_agg(a.attname, ', ' ORDER BY k.n) FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
				JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = k.attnum)
		FROM pg_index AS x
		JOIN pg_class AS i ON i.oid = x.indexrelid
		JOIN pg_class AS t ON t.oid = x.indrelid
		WHERE t.relnamespace = current_schema()::regnamespace AND NOT x.indisprimary`)
	if err != nil {
		return sc, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, table, cols string
		var unique bool
		if err := rows.Scan(&name, &table, &unique, &cols); err != nil {
			return sc, err
		}
		sc.indexes = append(sc.indexes, indexString(name, table, cols, unique))
	}
	slices.Sort(sc.indexes)
	return sc, rows.Err()
}

func indexString(name, table, cols string, unique bool) string {
	s := fmt.Sprintf("%s ON %s (%s)", name, table, cols)
	if unique {
		s = "UNIQUE " + s
	}
	return s
}

func strings1(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func TestRebind(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT 1`:                                         `SELECT 1`,
		`x = ? AND y IN (?, ?)`:                            `x = $1 AND y IN ($2, $3)`,
		`a = '?' AND b = ? AND "c?" = ?`:                   `a = '?' AND b = $1 AND "c?" = $2`,
		`a = 'it''s ?' AND b = ?`:                          `a = 'it''s ?' AND b = $1`,
		"a = ? -- why?\nAND b = ?":                         "a = $1 -- why?\nAND b = $2",
		`s = 'unterminated ?`:                              `s = 'unterminated ?`,
		`v = ?, w = ?, x = ?, y = ?, z = ?, ?, ?, ?, ?, ?`: `v = $1, w = $2, x = $3, y = $4, z = $5, $6, $7, $8, $9, $10`,
	} {
		if got := rebind(q); got != want {
			t.Errorf("rebind(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestPostgresDDL(t *testing.T) {
	got := postgresDDL(`CREATE TABLE t (
		id INTEGER NOT NULL, body BLOB, name TEXT DEFAULT '', texts INTEGER,
		PRIMARY KEY (id)
	) WITHOUT ROWID;`)
	want := `CREATE TABLE t (
		id BIGINT NOT NULL, body BYTEA, name TEXT COLLATE "C" DEFAULT '', texts BIGINT,
		PRIMARY KEY (id)
	);`
	if got != want {
		t.Errorf("postgresDDL:\n%s\nwant\n%s", got, want)
	}
}

// TestPostgresText records, on PostgreSQL, text that its text type cannot
// hold (NUL, bytes that are not UTF-8) and a bool for an INTEGER column:
// the run is recorded, with U+FFFD for each bad byte.
func TestPostgresText(t *testing.T) {
	s, _ := onPostgres.open(t)
	ctx := context.Background()
	evs := events("r", runtime.Failed)
	evs[len(evs)-1].Msg = "a\x00b\xffc"
	recordRun(t, s, "r", "F\x00", evs, RecorderOptions{})
	r, err := s.GetRun(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if r.Message != "a\uFFFDb\uFFFDc" || r.Flow != "F\uFFFD" || r.State != runtime.Failed {
		t.Errorf("run: flow %q, message %q, state %s", r.Flow, r.Message, r.State)
	}
	var late int
	if _, err := s.db.Exec(`UPDATE runs SET late = ? WHERE id = ?`, true, "r"); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT late FROM runs WHERE id = ?`, "r").Scan(&late); err != nil || late != 1 {
		t.Errorf("late = %d, %v; want 1", late, err)
	}
}

// TestPostgresNoCrashMarking: a database shared by several machines holds
// runs whose pid means nothing here, so opening it marks none Crashed
// (the server will, by leases).
func TestPostgresNoCrashMarking(t *testing.T) {
	s, dsn := onPostgres.open(t)
	recordRun(t, s, "elsewhere", "F", events("elsewhere", runtime.Success)[:3], RecorderOptions{})
	if _, err := s.db.Exec(`UPDATE runs SET pid = ? WHERE id = 'elsewhere'`, deadPID(t)); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, err := s2.GetRun(context.Background(), "elsewhere"); err != nil || r.State != runtime.Running {
		t.Errorf("run of another machine: %s, %v; want Running", r.State, err)
	}
}
