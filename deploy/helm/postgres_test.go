//go:build k8s_integration

package helm

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wfsh/wfsh/internal/pgtest"
	"github.com/wfsh/wfsh/internal/proctest"
)

// playPostgres plays the kubelet and the official postgres image for the
// in-chart PostgreSQL: it reads the StatefulSet the release made back
// from the API server and runs Debian's PostgreSQL with exactly its
// container's environment (POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD
// from the chart's Secret, PGDATA below the data volume's mount), its
// mounts as directories, doing what the image's entrypoint documents for
// an empty PGDATA (initdb with that superuser and password, local trust
// and scram-sha-256 over TCP, the database made), then postgres with the
// container's arguments. Its readiness and liveness probes are run as
// rendered and must fail before the server is up and pass after. It
// returns the address that plays the Service wfsh-postgresql:5432.
//
// What it cannot show: the image itself (pulled and run, its entrypoint
// script, its user 999 and read-only root filesystem): PostgreSQL runs
// here as this package's test user (pgtest.RunAs), on 127.0.0.1 at a free
// port, and the probes get that port (-p), as the container's own 5432
// would be.
func playPostgres(t *testing.T, ns string) string {
	t.Helper()
	bin := pgtest.Bin(t)
	ctx := context.Background()
	sts, err := kube.AppsV1().StatefulSets(ns).Get(ctx, "wfsh-postgresql", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := sts.Spec.Template.Spec
	c := spec.Containers[0]
	if !strings.HasPrefix(c.Image, "postgres:") || len(c.Command) > 0 {
		t.Fatalf("container %s: image %q, command %q: not the official image's entrypoint", c.Name, c.Image, c.Command)
	}
	// The volumes: a directory each, the server's user owning it (what
	// fsGroup does for the claim and the emptyDirs).
	base, err := os.MkdirTemp("", "wfsh-pgpod-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		dir := filepath.Join(base, m.Name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		pgtest.RunAs(t, exec.Command("true"), dir)
		mounts[m.MountPath] = dir
	}
	inPod := func(p string) string {
		for mount, dir := range mounts {
			if p == mount || strings.HasPrefix(p, mount+"/") {
				return dir + strings.TrimPrefix(p, mount)
			}
		}
		t.Fatalf("%s is on no volume (the root filesystem is read-only)", p)
		return ""
	}
	env := podEnv(t, ns, "wfsh-postgresql-0", c)
	user, db, password, pgdata := env["POSTGRES_USER"], env["POSTGRES_DB"], env["POSTGRES_PASSWORD"], inPod(env["PGDATA"])
	if user == "" || db == "" || len(password) < 16 {
		t.Fatalf("the container's environment: user %q, database %q, a password of %d characters", user, db, len(password))
	}
	sockets := inPod("/var/run/postgresql")
	port := freePort(t)

	// The entrypoint's initialization of an empty PGDATA.
	pwfile := filepath.Join(mounts["/tmp"], "pwfile")
	os.WriteFile(pwfile, []byte(password+"\n"), 0o600)
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", pgdata, "-U", user, "--pwfile", pwfile,
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "-E", "UTF8")
	pgtest.RunAs(t, initdb, pwfile)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)
	probe := func(p *corev1.Probe) error {
		cmd := p.Exec.Command
		out, err := exec.Command(filepath.Join(bin, cmd[0]), append(cmd[1:], "-p", strconv.Itoa(port))...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%q: %v: %s", cmd, err, out)
		}
		return nil
	}
	if err := probe(c.ReadinessProbe); err == nil {
		t.Fatal("the readiness probe passed with no server running")
	}
	args := append([]string{"-D", pgdata, "-k", sockets, "-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port)}, c.Args...)
	pg := exec.Command(filepath.Join(bin, "postgres"), args...)
	pgtest.RunAs(t, pg)
	var out proctest.Buffer
	pg.Stdout, pg.Stderr = &out, &out
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pg.Wait() }()
	t.Cleanup(func() {
		pg.Process.Signal(os.Interrupt) // a fast shutdown, as the kubelet's SIGTERM
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			pg.Process.Kill()
		}
		if t.Failed() {
			t.Logf("postgres:\n%s", out.String())
		}
	})
	var conn *pgx.Conn
	waitFor(t, 30*time.Second, "postgres on its socket", func() bool {
		conn, err = pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=%s dbname=postgres", sockets, port, user))
		return err == nil
	})
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if err := probe(p); err != nil {
			t.Errorf("probe: %v", err)
		}
	}
	// A password other than the Secret's is refused over TCP.
	if c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:wrong@127.0.0.1:%d/%s?sslmode=disable", user, port, db)); err == nil {
		c.Close(ctx)
		t.Error("a wrong password was let in: the server does not check passwords over TCP")
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
