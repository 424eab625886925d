package server

import (
	"context"
	"encoding/json"
	"net/http"
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
	const create = "/deployments/F/nightly/runs"
	for _, c := range []struct {
		name, method, path, token, csrf string
		want                            int
	}{
		{"read with the cookie", "GET", "/runs", dev.Token, "", 200},
		{"no valid token in the cookie", "GET", "/runs", "wfsh_nonsense", "", 401},
		{"an unknown token in the cookie", "GET", "/runs", auth.New().Plaintext, "", 401},
		{"a POST without the CSRF token (cross-site)", "POST", create, dev.Token, "", 403},
		{"a POST with another session's CSRF token", "POST", create, dev.Token, auth.CSRF(ts.admin.Token), 403},
		{"a POST with the session's CSRF token", "POST", create, dev.Token, auth.CSRF(dev.Token), 201},
		{"a DELETE without it", "DELETE", "/deployments/F/nightly", dev.Token, "", 403},
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
	viewer := ts.token(t, string(auth.Viewer))
	if got := cookieCall(t, ts, "POST", create, viewer.Token, auth.CSRF(viewer.Token), "{}"); got != 403 {
		t.Errorf("a viewer's session created a run: %d", got)
	}
	// A bearer token needs no CSRF token: nothing sends it on its own.
	if err := dev.Do(context.Background(), "POST", create, RunRequest{}, nil); err != nil {
		t.Errorf("bearer POST: %v", err)
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
