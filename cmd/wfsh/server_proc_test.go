package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/internal/pgtest"
	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// procServer is a real `wfsh server` process on a free port, and the
// admin client of its printed token.
type procServer struct {
	bin, home string
	admin     *server.Client
	cmd       *exec.Cmd
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServer(t testing.TB, lease time.Duration, db string, extra ...string) *procServer {
	t.Helper()
	bin := wfshBinary(t)
	home := t.TempDir()
	addr := freeAddr(t)
	args := []string{"server", "--listen", addr, "--lease", lease.String(), "--leader-ttl", "2s"}
	if db != "" {
		args = append(args, "--db", db)
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+home, "WFSH_SECRET_KEY=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("server's stderr:\n%s", errBuf.String())
		}
	})
	tokRE := regexp.MustCompile(`WFSH_TOKEN=(\S+)`)
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(10 * time.Second)
	for sc.Scan() && time.Now().Before(deadline) {
		if m := tokRE.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return &procServer{bin: bin, home: home, cmd: cmd, admin: &server.Client{Base: "http://" + addr, Token: m[1]}}
		}
	}
	t.Fatalf("the server printed no admin token; stderr:\n%s", errBuf.String())
	return nil
}

// wfsh runs a wfsh command against the server with token tok.
func (ps *procServer) wfsh(t testing.TB, tok string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(ps.bin, args...)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+tok)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func (ps *procServer) token(t testing.TB, role, pool string) string {
	t.Helper()
	var out server.NewTokenReply
	if err := ps.admin.Do(context.Background(), "POST", "/tokens", server.TokenRequest{Name: role, Role: role, Pool: pool}, &out); err != nil {
		t.Fatal(err)
	}
	return out.Token
}

// startWorker starts `wfsh worker` for pool default.
func (ps *procServer) startWorker(t testing.TB, tok string, slots int) (*exec.Cmd, *proctest.Buffer) {
	t.Helper()
	cmd := exec.Command(ps.bin, "worker", "--pool", "default", "--slots", fmt.Sprint(slots), "--grace", "2s")
	cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+tok)
	var log proctest.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("worker's log:\n%s", log.String())
		}
	})
	return cmd, &log
}

// waitState polls a run until it is in a state for which ok is true.
func (ps *procServer) waitState(t *testing.T, id string, d time.Duration, ok func(runtime.State) bool) store.Run {
	t.Helper()
	deadline := time.Now().Add(d)
	var r server.RunDetail
	for time.Now().Before(deadline) {
		if err := ps.admin.Do(context.Background(), "GET", "/runs/"+id, nil, &r); err == nil && ok(r.Run.State) {
			return r.Run
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("run %s is %s after %v", id, r.Run.State, d)
	return r.Run
}

// sleepyFlow writes a flow whose one task says "started" and sleeps in
// a shell for 30 s.
func sleepyFlow(t *testing.T) (dir string) {
	dir = t.TempDir()
	src := `load("@shell", "shell_task")

sleepy = shell_task(name="sleepy", command="echo started; sleep 30")

@flow(name="Slow")
def slow():
    sleepy()
`
	if err := os.WriteFile(filepath.Join(dir, "slow.star"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServerAndWorker: real server and worker processes. A run made with
// --watch prints its log and exits as the run ended; a run cancelled
// while Running ends Cancelled and its process is gone; a worker killed
// with -9 mid-run leaves its run Crashed within the lease (2 s) plus a
// few seconds, and its child process gone.
func TestServerAndWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	t.Run("sqlite", func(t *testing.T) { serverAndWorker(t, "", "") })
	t.Run("postgres", func(t *testing.T) {
		c := pgtest.Start(t)
		serverAndWorker(t, c.NewDatabase(t), c.Dir())
	})
}

// serverAndWorker runs the test on the database db ("": SQLite under the
// server's home), whose files are under dataDir.
func serverAndWorker(t *testing.T, db, dataDir string) {
	ps := startServer(t, 2*time.Second, db)
	dev := ps.token(t, "developer", "")
	// The worker's token from the command line, as a user makes it.
	out, code := ps.wfsh(t, ps.admin.Token, "token", "create", "--role", "worker", "--pool", "default")
	wtok := strings.TrimSpace(strings.Split(out, "\n")[0])
	if code != 0 || !strings.HasPrefix(wtok, "wfsh_") {
		t.Fatalf("token create: exit %d\n%s", code, out)
	}
	if out, code := ps.wfsh(t, ps.admin.Token, "limit", "set", "db", "2"); code != 0 {
		t.Fatalf("limit set: exit %d\n%s", code, out)
	}
	if out, _ := ps.wfsh(t, ps.admin.Token, "limit", "ls"); !regexp.MustCompile(`db\s+2\s+0`).MatchString(out) {
		t.Errorf("limit ls:\n%s", out)
	}
	if _, code := ps.wfsh(t, dev, "limit", "set", "db", "3"); code != exitBadInput {
		t.Errorf("limit set by a developer: exit %d, want %d (refused)", code, exitBadInput)
	}
	if out, code := ps.wfsh(t, dev, "deploy", "../../flows/parameterize.star", "--name", "adhoc"); code != 0 || !strings.Contains(out, "uploaded") {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	// The same tree again: nothing to upload.
	if out, code := ps.wfsh(t, dev, "deploy", "../../flows/parameterize.star", "--name", "adhoc"); code != 0 || !strings.Contains(out, "already on the server") {
		t.Fatalf("deploy again: exit %d\n%s", code, out)
	}
	worker, wlog := ps.startWorker(t, wtok, 2)

	out, code = ps.wfsh(t, dev, "run", "Parameterize/adhoc", "-p", "name=koji", "--watch", "--log-level", "debug")
	// The parameter's run is not counted as a task's, as wfsh run counts.
	if code != 0 || !strings.Contains(out, "Hello, koji!") || !strings.Contains(out, "Flow run SUCCESS") || !strings.Contains(out, "Task runs: 1 in all, 1 Success") {
		t.Fatalf("run --watch: exit %d\n%s", code, out)
	}
	// runs, show and logs read the server when one is named.
	out, _ = ps.wfsh(t, dev, "runs")
	if !strings.Contains(out, "Parameterize") || !strings.Contains(out, "Success") {
		t.Errorf("wfsh runs with WFSH_SERVER:\n%s", out)
	}
	id := firstRunID(t, out)
	if out, code := ps.wfsh(t, dev, "show", id); code != 0 || !strings.Contains(out, "say_hello") || !strings.Contains(out, "Deployment") {
		t.Errorf("wfsh show: exit %d\n%s", code, out)
	}
	if out, code := ps.wfsh(t, dev, "logs", id); code != 0 || !strings.Contains(out, "Hello, koji!") {
		t.Errorf("wfsh logs: exit %d\n%s", code, out)
	}

	// A secret set on the server reaches the flow through its worker, and
	// its value is in no answer, log or database file.
	const value = "s3cr3t-v4lue-Qx81"
	setSecret := exec.Command(ps.bin, "secret", "set", "API_KEY")
	setSecret.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+ps.admin.Token)
	setSecret.Stdin = strings.NewReader(value)
	if b, err := setSecret.CombinedOutput(); err != nil {
		t.Fatalf("secret set: %v\n%s", err, b)
	}
	sdir := t.TempDir()
	os.WriteFile(filepath.Join(sdir, "sec.star"), []byte(`
@task
def use():
    k = secret("API_KEY")
    print("key length %d, key %s" % (len(k), k))

@flow(name="Sec")
def sec():
    use()
`), 0o644)
	if out, code := ps.wfsh(t, dev, "deploy", filepath.Join(sdir, "sec.star"), "--name", "s"); code != 0 {
		t.Fatalf("deploy sec: exit %d\n%s", code, out)
	}
	out, code = ps.wfsh(t, dev, "run", "Sec/s", "--watch")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("key length %d", len(value))) {
		t.Errorf("run of a flow reading a secret: exit %d\n%s", code, out)
	}
	for _, where := range []string{out, wlog.String()} {
		if strings.Contains(where, value) {
			t.Errorf("the secret's value was printed:\n%s", where)
		}
	}
	if out, _ := ps.wfsh(t, ps.admin.Token, "secret", "ls"); !strings.Contains(out, "API_KEY") || strings.Contains(out, value) {
		t.Errorf("secret ls:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(ps.home, "server.db*"))
	if dataDir != "" {
		files = dataFiles(t, dataDir)
	}
	for _, f := range files {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(value)) {
			t.Errorf("the secret's value is in clear in %s", f)
		}
	}
	// Each run works in a copy of its bundle of its own: a file written
	// beside the flow by one run is not there for the next, nor in the
	// worker's cache.
	mdir := t.TempDir()
	os.WriteFile(filepath.Join(mdir, "mark.star"), []byte(`load("@shell", "shell_task")

mark = shell_task(name="mark", command="if [ -e marker ]; then echo marker left by another run; exit 1; fi; echo mine > marker; echo wrote $(pwd)/marker")

@flow(name="Mark")
def marks():
    mark()
`), 0o644)
	if out, code := ps.wfsh(t, dev, "deploy", filepath.Join(mdir, "mark.star"), "--name", "m"); code != 0 {
		t.Fatalf("deploy mark: exit %d\n%s", code, out)
	}
	for i := range 2 {
		if out, code := ps.wfsh(t, dev, "run", "Mark/m", "--watch"); code != 0 || !strings.Contains(out, "wrote ") {
			t.Fatalf("run %d of a flow writing beside itself: exit %d\n%s", i+1, code, out)
		}
	}
	if found, _ := filepath.Glob(filepath.Join(ps.home, "bundles", "*", "marker")); len(found) != 0 {
		t.Errorf("a run wrote into the worker's bundle cache: %v", found)
	}
	if _, code := ps.wfsh(t, dev, "run", "Parameterize/adhoc", "-p", "nosuch=1"); code != exitBadInput {
		t.Errorf("a run with an unknown parameter: exit %d, want %d", code, exitBadInput)
	}

	// Cancel a Running run.
	dir := sleepyFlow(t)
	if out, code := ps.wfsh(t, dev, "deploy", filepath.Join(dir, "slow.star"), "--name", "s"); code != 0 {
		t.Fatalf("deploy slow: exit %d\n%s", code, out)
	}
	id = strings.TrimSpace(mustRun(t, ps, dev, "run", "Slow/s"))
	ps.waitState(t, id, 10*time.Second, func(s runtime.State) bool { return s == runtime.Running })
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(wlog.String(), "started") }, "the task to start")
	if out, code := ps.wfsh(t, dev, "cancel", id); code != 0 || !strings.Contains(out, "Cancelling") {
		t.Fatalf("cancel: exit %d %s", code, out)
	}
	r := ps.waitState(t, id, 10*time.Second, runtime.State.Finished)
	if r.State != runtime.Cancelled {
		t.Errorf("cancelled run ended %s, want Cancelled", r.State)
	}

	// kill -9 the worker mid-run: the run is Crashed once its lease
	// lapses, and the child process dies with the worker.
	id = strings.TrimSpace(mustRun(t, ps, dev, "run", "Slow/s"))
	ps.waitState(t, id, 10*time.Second, func(s runtime.State) bool { return s == runtime.Running })
	children := childPIDs(worker.Process.Pid)
	if len(children) == 0 {
		t.Fatal("the worker has no child process")
	}
	killed := time.Now()
	syscall.Kill(worker.Process.Pid, syscall.SIGKILL)
	r = ps.waitState(t, id, 2*time.Second+5*time.Second, runtime.State.Finished)
	if r.State != runtime.Crashed {
		t.Errorf("run of a killed worker ended %s, want Crashed", r.State)
	}
	t.Logf("Crashed %v after kill -9 of the worker (lease 2s)", time.Since(killed).Round(100*time.Millisecond))
	proctest.CheckGone(t, children, 5*time.Second, "kill -9 of the worker")
}

// firstRunID is the id of the first run of a `wfsh runs` table, whole
// (the table shows a prefix, which the commands take).
func firstRunID(t *testing.T, table string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 2 {
		t.Fatalf("no run in\n%s", table)
	}
	return strings.Fields(lines[1])[0]
}

func mustRun(t *testing.T, ps *procServer, tok string, args ...string) string {
	t.Helper()
	out, code := ps.wfsh(t, tok, args...)
	if code != 0 {
		t.Fatalf("wfsh %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	// The run's id is the last line; the first says where it was made.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childPIDs are the processes whose parent is pid.
func childPIDs(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var p int
		if _, err := fmt.Sscan(e.Name(), &p); err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		var state string
		var ppid int
		if i > 0 {
			fmt.Sscan(s[i+1:], &state, &ppid)
		}
		if ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// dataFiles are the files under dir: a database cluster's data and
// write-ahead log, where a value in clear would be.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("no data files under %s", dir)
	}
	return files
}

// TestServerTLS: with --tls-cert and --tls-key the server speaks HTTPS
// only, and a client trusting the certificate gets its answers.
func TestServerTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	addr := freeAddr(t)
	cmd := exec.Command(wfshBinary(t), "server", "--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+dir, "WFSH_ADMIN_TOKEN="+auth.New().Plaintext)
	var log proctest.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	var body []byte
	waitFor(t, 10*time.Second, func() bool {
		resp, err := hc.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	}, "the server over HTTPS")
	if !strings.Contains(string(body), "ok") {
		t.Errorf("healthz over HTTPS: %q", body)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(b), "ok") {
			t.Error("the TLS server answered plain HTTP")
		}
	}
	if !strings.Contains(log.String(), "https://") {
		t.Errorf("the server did not say https:\n%s", log.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
