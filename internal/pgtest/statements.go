package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// hasStatements reports whether the PostgreSQL of bin has the
// pg_stat_statements module (Debian's postgresql package does): each
// cluster then loads it, so that a benchmark can count the statements
// a piece of work costs.
func hasStatements(bin string) bool {
	out, err := exec.Command(filepath.Join(bin, "pg_config"), "--pkglibdir").Output()
	lib := strings.TrimSpace(string(out))
	if err != nil || lib == "" {
		// Debian keeps pg_config elsewhere; the library sits beside bin.
		lib = filepath.Join(filepath.Dir(bin), "lib")
	}
	_, err = os.Stat(filepath.Join(lib, "pg_stat_statements.so"))
	return err == nil
}

// Counts are the statements and transactions a database has run since
// the last ResetCounts: the round trips a piece of work costs.
type Counts struct {
	Statements int64 // every statement, BEGIN and COMMIT included
	Commits    int64 // transactions committed (each statement outside one counts)
	Sessions   int64 // connections opened
	// Top are the most called statements, most first: calls and text.
	Top []StatementCount
}

// StatementCount is one statement's calls.
type StatementCount struct {
	Calls int64
	Query string
}

// ErrNoStatements: the cluster runs without pg_stat_statements.
var ErrNoStatements = errors.New("pg_stat_statements is not installed with this PostgreSQL")

// ResetCounts starts counting the statements of the database at url.
func ResetCounts(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return fmt.Errorf("%w: %v", ErrNoStatements, err)
	}
	_, err = conn.Exec(ctx, `SELECT pg_stat_statements_reset(), pg_stat_reset()`)
	return err
}

// ReadCounts reads what the database at url has run since ResetCounts,
// with its top statements (at most top), not counting its own queries.
func ReadCounts(ctx context.Context, url string, top int) (Counts, error) {
	var c Counts
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return c, err
	}
	defer conn.Close(ctx)
	// The counts of a session are published when it goes idle; a
	// statement just run may be a few milliseconds late: the figures
	// are of thousands.
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&c.Statements)
	if err != nil {
		return c, err
	}
	if err := conn.QueryRow(ctx, `SELECT xact_commit, sessions FROM pg_stat_database WHERE datname = current_database()`).Scan(&c.Commits, &c.Sessions); err != nil {
		return c, err
	}
	rows, err := conn.Query(ctx, `SELECT calls, query FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY calls DESC LIMIT $1`, top)
	if err != nil {
		return c, err
	}
	for rows.Next() {
		var s StatementCount
		if err := rows.Scan(&s.Calls, &s.Query); err != nil {
			return c, err
		}
		c.Top = append(c.Top, s)
	}
	return c, rows.Err()
}
