package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/bundle"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// fixture is a real server with its UI on 127.0.0.1, and an admin.
type fixture struct {
	ui    *UI
	st    *store.Store
	http  *httptest.Server
	admin *server.Client
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureAt(t, filepath.Join(t.TempDir(), "wfsh.db"))
}

// newFixtureAt is a fixture on the store at where (a file, or a
// PostgreSQL URL).
func newFixtureAt(t testing.TB, where string) *fixture {
	t.Helper()
	st, err := store.Open(where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := server.New(server.Options{Store: st, Lease: 30 * time.Second})
	tok, err := srv.Bootstrap(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	ui := New(Options{API: srv.Handler()})
	h := httptest.NewServer(ui.Handler())
	t.Cleanup(h.Close)
	return &fixture{ui: ui, st: st, http: h, admin: &server.Client{Base: h.URL, Token: tok}}
}

// token makes a token of role (a worker's for pool default).
func (f *fixture) token(t testing.TB, role string) *server.Client {
	t.Helper()
	req := server.TokenRequest{Name: role, Role: role}
	if role == string(auth.Worker) {
		req.Pool = "default"
	}
	var out server.NewTokenReply
	if err := f.admin.Do(context.Background(), "POST", "/tokens", req, &out); err != nil {
		t.Fatal(err)
	}
	return &server.Client{Base: f.admin.Base, Token: out.Token}
}

// deploy makes the deployment F/nightly of a flow with parameters n
// (integer, default 1) and who (string, required).
func (f *fixture) deploy(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.star"), []byte("# a flow\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	info, err := bundle.Pack(dir, &data, bundle.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	hash := info.Hash
	if err := f.admin.Do(ctx, "PUT", "/bundles/"+hash, data.Bytes(), nil); err != nil {
		t.Fatal(err)
	}
	spec := server.DeploymentSpec{Bundle: hash, File: "f.star", Params: []server.Param{
		{Name: "n", Default: json.RawMessage("1"), Type: "integer"}, {Name: "who"}},
		Schedules: []schedule.Spec{{Kind: schedule.KindCron, Expr: "0 2 * * *", Timezone: "Asia/Tokyo"}}}
	if err := f.admin.Do(ctx, "PUT", "/deployments/F/nightly", spec, nil); err != nil {
		t.Fatal(err)
	}
}

// runOf creates a run of F/nightly.
func (f *fixture) runOf(t testing.TB, params string) store.Run {
	t.Helper()
	var req server.RunRequest
	json.Unmarshal([]byte(params), &req.Parameters)
	var r store.Run
	if err := f.admin.Do(context.Background(), "POST", "/deployments/F/nightly/runs", req, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// browser is an HTTP client with a cookie jar that follows no
// redirect: the tests look at each answer.
func (f *fixture) browser(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs c in with token and returns the session's CSRF token (of
// the secret its cookie holds).
func (f *fixture) login(t testing.TB, c *http.Client, token string) string {
	t.Helper()
	resp, err := c.PostForm(f.http.URL+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := cookieOf(resp)
	if resp.StatusCode != http.StatusSeeOther || sc == nil {
		t.Fatalf("login: %s, cookie %v", resp.Status, sc)
	}
	return auth.CSRF(sc.Value)
}

// session opens a session on token through the API, as the login page
// does, and returns its secret: the session cookie's value.
func (f *fixture) session(t testing.TB, token string) string {
	t.Helper()
	c := &server.Client{Base: f.http.URL, Token: token}
	var ns server.NewSession
	if err := c.Do(context.Background(), "POST", "/sessions", nil, &ns); err != nil {
		t.Fatal(err)
	}
	return ns.Secret
}

// worker drives the worker protocol for a run, as a worker would.
type worker struct {
	c   *server.Client
	run string
	rec *store.Recorder
	seq uint64
	// stored notes when the server took each write: its last event's
	// sequence number and the time (Unix ms).
	mu     sync.Mutex
	stored [][2]int64
}

// storedAt is when the server took the write holding event seq (Unix
// ms), or 0.
func (w *worker) storedAt(seq uint64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.stored {
		if s[0] >= int64(seq) {
			return s[1]
		}
	}
	return 0
}

// claim claims the next run of pool default and starts recording it
// with graph g.
func (f *fixture) claim(t testing.TB, g *runtime.Graph) *worker {
	t.Helper()
	c := f.token(t, string(auth.Worker))
	var cl []server.Claimed
	err := c.Do(context.Background(), "POST", "/pools/default/claim",
		server.ClaimRequest{Worker: server.WorkerInfo{ID: "w1", Name: "test worker", Slots: 1}, Max: 1}, &cl)
	if err != nil || len(cl) != 1 {
		t.Fatalf("claim: %v %v", cl, err)
	}
	w := &worker{c: c, run: cl[0].Run.ID}
	w.rec = store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: w.run}, Graph: g, FlushEvery: 20 * time.Millisecond,
		Send: func(ctx context.Context, wr *store.Write) error {
			err := c.Do(ctx, "POST", "/runs/"+w.run+"/writes", server.WriteRequest{Worker: "w1", Write: *wr}, nil)
			if err == nil && wr.Chunk != nil {
				w.mu.Lock()
				w.stored = append(w.stored, [2]int64{wr.Chunk.Seq, time.Now().UnixMilli()})
				w.mu.Unlock()
			}
			return err
		}})
	return w
}

// emit records e, numbered and timed now.
func (w *worker) emit(e runtime.Event) {
	w.seq++
	e.Seq, e.Time = w.seq, time.Now()
	w.rec.Emit(e)
}

// get fetches path with c and returns the status and body.
func get(t testing.TB, c *http.Client, base, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}
