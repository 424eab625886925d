package store

import (
	"os"
	"testing"

	"github.com/wfsh/wfsh/internal/pgtest"
)

// The store's tests that hold for both databases run once on each, as
// subtests sqlite and postgres. PostgreSQL's are skipped, saying so,
// where it is not installed (`make setup`), unless WFSH_REQUIRE_POSTGRES=1.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend is a database the store runs on.
type backend string

const (
	onSQLite   backend = "sqlite"
	onPostgres backend = "postgres"
)

// eachBackend runs f once per backend, as a subtest of its name.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range []backend{onSQLite, onPostgres} {
		t.Run(string(b), func(t *testing.T) { f(t, b) })
	}
}

// where returns a place for a new, empty store on b: a file in a new
// directory, or a new database (dropped when t ends).
func (b backend) where(t testing.TB) string {
	t.Helper()
	if b == onSQLite {
		return t.TempDir() + "/sub/wfsh.db"
	}
	return pgtest.DSN(t)
}

// open opens a new, empty store on b, closed when t ends, and says where
// it is (for Open).
func (b backend) open(t testing.TB) (*Store, string) {
	t.Helper()
	where := b.where(t)
	s, err := Open(where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, where
}
