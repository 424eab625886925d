// Package pgtest starts throwaway PostgreSQL servers for tests, from the
// binaries `make setup` installs (Debian's postgresql package). A cluster
// is the test process's own: made from a template data directory
// (initdb once, cached under the user's cache dir), in a directory under
// the temporary directory, listening on 127.0.0.1 at a free port with its
// unix socket beside its data, run as an unprivileged user when the tests
// run as root (PostgreSQL refuses root). It is stopped by PID when the
// test, or TestMain through Main, ends; the kernel stops it if the test
// process dies first (a parent-death signal), and the next start removes
// what such a death left on disk.
//
// Tests that need PostgreSQL skip when it is not installed, saying to run
// `make setup`, unless WFSH_REQUIRE_POSTGRES=1 (as `make test` sets it):
// then they fail.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireEnv names the variable that turns a missing PostgreSQL from a
// skip into a failure.
const RequireEnv = "WFSH_REQUIRE_POSTGRES"

// User is the superuser of every cluster; it needs no password (trust
// authentication, on 127.0.0.1 and the cluster's own socket only).
const User = "wfsh"

// dirPrefix starts the name of each cluster's directory in os.TempDir().
const dirPrefix = "wfsh-pgtest-"

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir  string // the cluster's directory: data/, the socket, owner, postgres.log
	port int
	proc *server
	bin  string   // the binaries it runs
	as   *account // the user it runs as

	mu    sync.Mutex
	admin *pgx.Conn // to the postgres database, to make and drop databases
	n     int       // databases made
	once  sync.Once
	err   error
}

// Missing returns why there is no PostgreSQL to run, or nil.
func Missing() error {
	_, err := binDir()
	return err
}

// need skips tb, or fails it under WFSH_REQUIRE_POSTGRES=1, when
// PostgreSQL is not installed.
func need(tb testing.TB) string {
	tb.Helper()
	bin, err := binDir()
	if err == nil {
		return bin
	}
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%v (%s=1)", err, RequireEnv)
	}
	tb.Skip(err)
	return ""
}

// binDir finds the directory of initdb and postgres: the newest version
// under /usr/lib/postgresql (Debian keeps them there, off PATH), else
// PATH.
func binDir() (string, error) {
	if err := supported(); err != nil {
		return "", err
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var found []string
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			found = append(found, d)
		}
	}
	if len(found) > 0 {
		sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
		return found[0], nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin nor on PATH): run `make setup`")
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// version reads the major version from /usr/lib/postgresql/VERSION/bin.
func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// DSN returns the URL of a new, empty schema for tb, dropped when tb
// ends: a schema of the database postgres of the test process's shared
// cluster (started by the first call), made the connections' search_path,
// so that the tables a test makes are its own. A schema costs
// milliseconds, a database half a second (NewDatabase: for tests that
// need one whole, as for LISTEN/NOTIFY). Main stops the cluster when the
// tests are done.
func DSN(tb testing.TB) string {
	tb.Helper()
	return Shared(tb).NewSchema(tb)
}

// Shared returns the test process's shared cluster, started by the first
// call. Main stops it when the tests are done.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	bin := need(tb)
	shared.once.Do(func() { shared.c, shared.err = start(bin) })
	if shared.err != nil {
		tb.Fatalf("pgtest: %v", shared.err)
	}
	return shared.c
}

// Main runs the tests of m and then stops the shared cluster, if a test
// started it. Use it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// Start starts a cluster of tb's own, stopped when tb ends: for tests
// that stop it or need it alone.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	bin := need(tb)
	c, err := start(bin)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// PID is the postmaster's process id.
func (c *Cluster) PID() int { return c.proc.pid() }

// Dir is the cluster's directory.
func (c *Cluster) Dir() string { return c.dir }

// URL is the address of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, c.port, db)
}

// NewDatabase makes an empty database, dropped when tb ends, and returns
// its URL.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	// FILE_COPY: the template is small and fsync is off; the default
	// (WAL_LOG) writes all of it to the log, slower.
	name := c.make(tb, "CREATE DATABASE %s STRATEGY FILE_COPY", "DROP DATABASE IF EXISTS %s WITH (FORCE)")
	return c.URL(name)
}

// NewSchema makes an empty schema in the database postgres, dropped
// when tb ends, and returns the URL of that database with the schema as
// search_path: what the connections create goes there.
func (c *Cluster) NewSchema(tb testing.TB) string {
	tb.Helper()
	name := c.make(tb, "CREATE SCHEMA %s", "DROP SCHEMA IF EXISTS %s CASCADE")
	return c.URL("postgres") + "&search_path=" + name
}

// make runs create with a new name, and drop with it when tb ends.
func (c *Cluster) make(tb testing.TB, create, drop string) string {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		tb.Fatal("pgtest: the cluster is stopped")
	}
	c.n++
	name := fmt.Sprintf("t%d", c.n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.admin.Exec(ctx, fmt.Sprintf(create, name)); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() { c.drop(fmt.Sprintf(drop, name)) })
	return name
}

// drop runs a DROP statement; a cluster stopped since has nothing to
// drop.
func (c *Cluster) drop(stmt string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = c.admin.Exec(ctx, stmt)
}

// Stop stops the server by its PID (immediate shutdown: the data is
// thrown away) and removes the cluster's directory. Stopping twice does
// nothing more.
func (c *Cluster) Stop() error {
	c.once.Do(func() {
		c.mu.Lock()
		if c.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.admin.Close(ctx)
			cancel()
			c.admin = nil
		}
		c.mu.Unlock()
		c.err = c.proc.stop(10 * time.Second)
		if err := os.RemoveAll(c.dir); err != nil && c.err == nil {
			c.err = err
		}
	})
	return c.err
}

// Outage stops the server (a fast shutdown: its clients are cut off),
// leaves it down for d, and starts it again on the same data and port:
// the database a client was using comes back, with what was committed.
// (An immediate stop would lose the last commits: the clusters run with
// synchronous_commit off.)
func (c *Cluster) Outage(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.admin.Close(ctx)
		cancel()
		c.admin = nil
	}
	if err := c.proc.shutdown(10 * time.Second); err != nil {
		return err
	}
	time.Sleep(d)
	return c.launch(c.bin, c.as)
}

// Bin is the directory of PostgreSQL's programs (initdb, postgres,
// pg_isready); it skips tb, or fails it under WFSH_REQUIRE_POSTGRES=1,
// when PostgreSQL is not installed. For tests that run a server of their
// own making, as a container would.
func Bin(tb testing.TB) string {
	tb.Helper()
	return need(tb)
}

// RunAs makes cmd run as the user this package's clusters run as (the
// tests' own, or nobody under root), and gives it paths.
func RunAs(tb testing.TB, cmd *exec.Cmd, paths ...string) {
	tb.Helper()
	as, err := serverUser()
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range paths {
		if err := as.chown(p); err != nil {
			tb.Fatal(err)
		}
	}
	as.set(cmd)
}
