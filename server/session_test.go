package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// cookieCall calls the API with the web UI's session cookie of token,
// and csrf in its header when not empty.
func cookieCall(t *testing.T, ts *testServer, method, path, token, csrf, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, ts.http.URL+"/api/v1"+path, strings.NewReader(body))
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: token})
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set(auth.CSRFHeader, csrf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSessionCookie: the API takes the web UI's session cookie as it
// takes a bearer token, and refuses a state-changing request made with
// it unless it carries the session's CSRF token (what a cross-site form
// or fetch cannot know); a bearer token needs none.
func TestSessionCookie(t *testing.T) {
	ts := newTestServer(t)
	dev := ts.token(t, string(auth.Developer))
	ts.deploy(t, dev, DeploymentSpec{})
	sess, other := openSession(t, dev), openSession(t, ts.admin)
	const create = "/deployments/F/nightly/runs"
	for _, c := range []struct {
		name, method, path, token, csrf string
		want                            int
	}{
		{"read with the cookie", "GET", "/runs", sess.Secret, "", 200},
		{"no valid session in the cookie", "GET", "/runs", "wfshs_nonsense", "", 401},
		{"an unknown session in the cookie", "GET", "/runs", auth.NewSession().Plaintext, "", 401},
		{"a token in the cookie, not a session", "GET", "/runs", dev.Token, "", 401},
		{"a POST without the CSRF token (cross-site)", "POST", create, sess.Secret, "", 403},
		{"a POST with another session's CSRF token", "POST", create, sess.Secret, other.CSRF, 403},
		{"a POST with the session's CSRF token", "POST", create, sess.Secret, sess.CSRF, 201},
		{"a DELETE without it", "DELETE", "/deployments/F/nightly", sess.Secret, "", 403},
		{"a session opened with a session", "POST", "/sessions", sess.Secret, sess.CSRF, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := ""
			if c.method == "POST" {
				body = "{}"
			}
			if got := cookieCall(t, ts, c.method, c.path, c.token, c.csrf, body); got != c.want {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.want)
			}
		})
	}
	// The cookie's role rules as the token's: a viewer's session may not
	// create a run even with its CSRF token.
	vs := openSession(t, ts.token(t, string(auth.Viewer)))
	if got := cookieCall(t, ts, "POST", create, vs.Secret, vs.CSRF, "{}"); got != 403 {
		t.Errorf("a viewer's session created a run: %d", got)
	}
	// A bearer token needs no CSRF token: nothing sends it on its own.
	if err := dev.Do(context.Background(), "POST", create, RunRequest{}, nil); err != nil {
		t.Errorf("bearer POST: %v", err)
	}
}

// openSession opens a web UI session on c's token.
func openSession(t *testing.T, c *Client) NewSession {
	t.Helper()
	var ns NewSession
	if err := c.Do(context.Background(), "POST", "/sessions", nil, &ns); err != nil {
		t.Fatal(err)
	}
	if auth.CheckSessionFormat(ns.Secret) != nil || ns.CSRF != auth.CSRF(ns.Secret) {
		t.Fatalf("session %+v", ns)
	}
	return ns
}

// TestSessionsEnd: a session is the server's: it ends at logout (DELETE
// /sessions/current, with its CSRF token), at its expiry, and with its
// token's revocation; the store keeps the hash of its secret, never the
// secret or the token. A worker token opens none.
func TestSessionsEnd(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	dev := ts.token(t, string(auth.Developer))
	alive := func(ns NewSession) int { return cookieCall(t, ts, "GET", "/whoami", ns.Secret, "", "") }
	out := openSession(t, dev)
	if got := cookieCall(t, ts, "DELETE", "/sessions/current", out.Secret, "", ""); got != 403 {
		t.Errorf("logout without the CSRF token: %d, want 403", got)
	}
	if got := cookieCall(t, ts, "DELETE", "/sessions/current", out.Secret, out.CSRF, ""); got != 204 {
		t.Errorf("logout: %d, want 204", got)
	}
	if got := alive(out); got != 401 {
		t.Errorf("a session after its logout: %d, want 401", got)
	}
	if err := dev.Do(ctx, "DELETE", "/sessions/current", nil, nil); status(err) != 400 {
		t.Errorf("logout with a bearer token: %v, want 400", err)
	}
	// Expiry: the server's clock past the session's life.
	late := openSession(t, dev)
	ts.srv.opt.Now = func() time.Time { return time.Now().Add(SessionLife + time.Minute) }
	if got := alive(late); got != 401 {
		t.Errorf("a session past its life: %d, want 401", got)
	}
	ts.srv.opt.Now = time.Now
	// Revocation of its token.
	kept, revoked := openSession(t, ts.admin), openSession(t, dev)
	var who Whoami
	dev.Do(ctx, "GET", "/whoami", nil, &who)
	if err := ts.admin.Do(ctx, "DELETE", "/tokens/"+who.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := alive(revoked); got != 401 {
		t.Errorf("a session of a revoked token: %d, want 401", got)
	}
	if got := alive(kept); got != 200 {
		t.Errorf("a session of another token after a revocation: %d, want 200", got)
	}
	if err := ts.token(t, string(auth.Worker)).Do(ctx, "POST", "/sessions", nil, nil); status(err) != 403 {
		t.Errorf("a session opened by a worker token: %v, want 403", err)
	}
	// The database keeps the hashes of the sessions alive: neither a
	// session's secret nor a token is in its files (the write-ahead log
	// included).
	var files []byte
	matches, _ := filepath.Glob(ts.st.Path() + "*")
	for _, f := range matches {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	if !bytes.Contains(files, []byte(auth.Hash(kept.Secret))) {
		t.Fatalf("no session's hash in the database files %v", matches)
	}
	for _, secret := range []string{kept.Secret, late.Secret, ts.admin.Token, dev.Token} {
		if bytes.Contains(files, []byte(secret)) {
			t.Errorf("the database files hold %s in clear", secret)
		}
	}
}

// TestRunDAG: a run's graph, as its worker's first write stored it.
func TestRunDAG(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	dev, worker := ts.token(t, string(auth.Developer)), ts.token(t, string(auth.Worker))
	ts.deploy(t, dev, DeploymentSpec{})
	var run store.Run
	if err := dev.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	if err := dev.Do(ctx, "GET", "/runs/"+run.ID+"/dag", nil, nil); status(err) != 404 {
		t.Errorf("graph of a run not started: %v, want 404", err)
	}
	var claimed []Claimed
	if err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Slots: 1}, Max: 1}, &claimed); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	g := &runtime.Graph{Flow: "F"}
	a := g.Add(&runtime.Node{Name: "a", Task: "a", Kind: runtime.TaskNode})
	g.Add(&runtime.Node{Name: "b", Task: "b", Kind: runtime.TaskNode, Mapped: true, Inputs: []runtime.Input{{From: a, Map: true}}})
	rec := store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: run.ID}, Graph: g, FlushEvery: time.Millisecond,
		Send: func(ctx context.Context, w *store.Write) error {
			return worker.Do(ctx, "POST", "/runs/"+run.ID+"/writes", WriteRequest{Worker: "w1", Write: *w}, nil)
		}})
	rec.Emit(runtime.Event{Seq: 1, Time: time.Now(), Kind: runtime.FlowStarted, Node: runtime.NoNode, MapIndex: -1})
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	var dag []DAGNode
	if err := dev.Do(ctx, "GET", "/runs/"+run.ID+"/dag", nil, &dag); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(dag)
	if want := `[{"name":"a","task":"a","kind":"task"},{"name":"b","task":"b","kind":"task","mapped":true,"inputs":["*a"]}]`; string(got) != want {
		t.Errorf("dag:\n%s\nwant\n%s", got, want)
	}
}

// TestWhoami: the token a request is made with, for the roles that may
// browse; a worker token is refused.
func TestWhoami(t *testing.T) {
	ts := newTestServer(t)
	for _, role := range []string{"developer", "viewer", "worker"} {
		c := ts.token(t, role)
		var who Whoami
		err := c.Do(context.Background(), "GET", "/whoami", nil, &who)
		switch {
		case role == "worker" && status(err) != 403:
			t.Errorf("whoami as a worker: %v, want 403", err)
		case role != "worker" && (err != nil || who.Role != role || who.ID != auth.ID(auth.Hash(c.Token))):
			t.Errorf("whoami as %s: %+v %v", role, who, err)
		}
	}
}
