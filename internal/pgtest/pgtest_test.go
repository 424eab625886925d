package pgtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfsh/wfsh/internal/proctest"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestCluster starts a cluster, uses two databases of it and stops it:
// it listens on 127.0.0.1 only, never runs as root, and leaves neither a
// process nor its directory.
func TestCluster(t *testing.T) {
	t0 := time.Now()
	c := Start(t)
	t.Logf("cluster started in %v", time.Since(t0))
	ctx := context.Background()
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases at one URL %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	var listen, sockets string
	if err := conn.QueryRow(ctx, `SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories')`).Scan(&listen, &sockets); err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1" || sockets != c.Dir() {
		t.Errorf("listen_addresses %q, unix_socket_directories %q; want 127.0.0.1 and %s", listen, sockets, c.Dir())
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE x (v BIGINT)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	conn, err = pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'x'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table of one database seen in the other: %d, %v", n, err)
	}
	conn.Close(ctx)
	pid := c.PID()
	if uid := procUID(t, pid); uid == "0" {
		t.Errorf("postgres (pid %d) runs as root", pid)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	proctest.CheckGone(t, []int{pid}, 5*time.Second, "Stop")
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("cluster directory left after Stop: %v", err)
	}
}

func procUID(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return ""
}

// TestShared hands out schemas of one cluster for the whole process:
// the tables made through one DSN are not seen through another.
func TestShared(t *testing.T) {
	a, b := DSN(t), DSN(t)
	if a == b || shared.c == nil || !strings.Contains(a, fmt.Sprintf(":%d/", shared.c.port)) {
		t.Fatalf("DSNs %s and %s; want two schemas of the shared cluster", a, b)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE x (v BIGINT)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	conn, err = pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT * FROM x`); err == nil {
		t.Error("the table of one schema is seen through the other's DSN")
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE x (v BIGINT)`); err != nil {
		t.Errorf("the same table in the second schema: %v", err)
	}
}

// TestKilledTestProcess kills -9 a test process that runs a cluster: the
// kernel stops the server (parent-death signal), and the next start
// removes the directory it left.
func TestKilledTestProcess(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		t.Skip("in the child")
	}
	if err := Missing(); err != nil {
		need(t)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildCluster$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pid int
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(strings.TrimSpace(sc.Text()), "cluster %d %s", &pid, &dir); err == nil {
			break
		}
	}
	if pid == 0 {
		t.Fatal("the child started no cluster")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	proctest.CheckGone(t, []int{pid}, 10*time.Second, "kill -9 of its test process")
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatalf("the killed process's cluster directory is not there to sweep: %v", err)
	}
	sweep()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory of a dead test process left by the sweep: %v", err)
	}
}

// TestChildCluster is the child of TestKilledTestProcess: it starts a
// cluster, says where, and waits to be killed.
func TestChildCluster(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "1" {
		t.Skip("run by TestKilledTestProcess")
	}
	c := Start(t)
	fmt.Printf("cluster %d %s\n", c.PID(), c.Dir())
	time.Sleep(time.Minute)
}
