package server

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/bundle"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

type testServer struct {
	srv   *Server
	http  *httptest.Server
	st    *store.Store
	admin *Client
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "wfsh.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(Options{Store: st, Lease: 2 * time.Second})
	tok, err := s.Bootstrap(context.Background(), "")
	if err != nil || !strings.HasPrefix(tok, auth.Prefix) {
		t.Fatalf("bootstrap: %q, %v", tok, err)
	}
	if again, err := s.Bootstrap(context.Background(), ""); again != "" || err != nil {
		t.Fatalf("second bootstrap made a token: %q, %v", again, err)
	}
	h := httptest.NewServer(s.Handler())
	t.Cleanup(h.Close)
	return &testServer{srv: s, http: h, st: st, admin: &Client{Base: h.URL, Token: tok}}
}

// token makes a token of a role (a worker's for pool "default").
func (ts *testServer) token(t testing.TB, role string) *Client {
	t.Helper()
	req := TokenRequest{Name: role, Role: role}
	if role == string(auth.Worker) {
		req.Pool = "default"
	}
	var out NewTokenReply
	if err := ts.admin.Do(context.Background(), "POST", "/tokens", req, &out); err != nil {
		t.Fatal(err)
	}
	return &Client{Base: ts.admin.Base, Token: out.Token}
}

// runToken makes a run token, as a worker holding a run does: a run of
// F/nightly (deployed here) claimed by worker w2 with a worker token.
func (ts *testServer) runToken(t testing.TB) (store.Run, *Client) {
	t.Helper()
	ctx := context.Background()
	ts.deploy(t, ts.admin, DeploymentSpec{})
	var run store.Run
	if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	w := ts.token(t, string(auth.Worker))
	var claimed []Claimed
	if err := w.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w2", Slots: 1}, Max: 1}, &claimed); err != nil || len(claimed) != 1 || claimed[0].Run.ID != run.ID {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	var out NewTokenReply
	if err := w.Do(ctx, "POST", "/runs/"+run.ID+"/token", RunTokenRequest{Worker: "w2"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Info.Role != string(auth.Run) || out.Info.Run != run.ID || out.Info.ExpiresAt.IsZero() {
		t.Fatalf("run token: %+v", out.Info)
	}
	return run, &Client{Base: ts.admin.Base, Token: out.Token}
}

func status(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	if err == nil {
		return 200
	}
	return -1
}

// deploy uploads a bundle and makes the deployment F/nightly.
func (ts *testServer) deploy(t testing.TB, c *Client, spec DeploymentSpec) DeploymentInfo {
	t.Helper()
	ctx := context.Background()
	data, hash := packed(t, map[string]string{"f.star": "@flow(name=\"F\")\ndef f():\n    pass\n"})
	if err := c.Do(ctx, "PUT", "/bundles/"+hash, data, nil); err != nil {
		t.Fatal(err)
	}
	spec.Bundle, spec.File = hash, "f.star"
	var d DeploymentInfo
	if err := c.Do(ctx, "PUT", "/deployments/F/nightly", spec, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWorkerProtocol: a run created through the API is claimed by a
// worker's long poll as soon as it is made, started, written and ended;
// its events read back; the audit log says who made it.
func TestWorkerProtocol(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	dev, worker := ts.token(t, string(auth.Developer)), ts.token(t, string(auth.Worker))
	ts.deploy(t, dev, DeploymentSpec{Params: []Param{{Name: "n", Default: json.RawMessage("1"), Type: "integer"}}})

	// A claim waits; the run made meanwhile wakes it.
	type claimed struct {
		runs []Claimed
		err  error
		took time.Duration
	}
	got := make(chan claimed, 1)
	go func() {
		var out []Claimed
		start := time.Now()
		err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Name: "w", Slots: 1}, Max: 1, WaitMS: 10000}, &out)
		got <- claimed{out, err, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	var run store.Run
	if err := dev.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{Parameters: map[string]json.RawMessage{"n": json.RawMessage("5")}}, &run); err != nil {
		t.Fatal(err)
	}
	c := <-got
	if c.err != nil || len(c.runs) != 1 || c.runs[0].Run.ID != run.ID {
		t.Fatalf("claim: %+v (%v)", c, c.err)
	}
	if c.took > 5*time.Second {
		t.Errorf("the claim answered after %v: the new run did not wake it", c.took)
	}
	if string(c.runs[0].Parameters) != `{"n":5}` {
		t.Errorf("parameters %s", c.runs[0].Parameters)
	}
	// Another pool's token may not claim for this pool.
	if err := worker.Do(ctx, "POST", "/pools/other/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Slots: 1}, Max: 1}, nil); status(err) != 403 {
		t.Errorf("claim for another pool: %v, want 403", err)
	}
	// A client follows the run's events as they come.
	streamed := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", ts.http.URL+"/api/v1/runs/"+run.ID+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+dev.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			streamed <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body) // until the stream ends
		streamed <- resp.Header.Get("Content-Type") + "\n" + string(b)
	}()
	now := time.Now()
	events := []runtime.Event{
		{Seq: 1, Time: now, Kind: runtime.FlowStarted, Msg: "F", Node: runtime.NoNode, MapIndex: -1},
		{Seq: 2, Time: now, Kind: runtime.TaskLog, TaskRun: "a", Msg: "hello from a", Level: runtime.Info, Node: runtime.NoNode, MapIndex: -1},
		{Seq: 3, Time: now, Kind: runtime.FlowFinished, State: runtime.Success, Node: runtime.NoNode, MapIndex: -1},
	}
	rec := store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: run.ID}, FlushEvery: time.Millisecond,
		Send: func(ctx context.Context, w *store.Write) error {
			return worker.Do(ctx, "POST", "/runs/"+run.ID+"/writes", WriteRequest{Worker: "w1", Write: *w}, nil)
		}})
	for _, e := range events {
		rec.Emit(e)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-streamed:
		if !strings.HasPrefix(got, "text/event-stream") || !strings.Contains(got, "hello from a") ||
			!strings.Contains(got, "event: end") || !strings.Contains(got, `"state":"Success"`) {
			t.Errorf("the event stream:\n%s", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("the event stream did not end with the run")
	}
	var d RunDetail
	if err := dev.Do(ctx, "GET", "/runs/"+run.ID, nil, &d); err != nil || d.Run.State != runtime.Success {
		t.Fatalf("run after its end: %+v, %v", d.Run, err)
	}
	var page LogPage
	if err := dev.Do(ctx, "GET", "/runs/"+run.ID+"/logs", nil, &page); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range page.Events {
		msgs = append(msgs, e.Msg)
	}
	if !strings.Contains(strings.Join(msgs, "|"), "hello from a") || page.State != runtime.Success {
		t.Errorf("logs: %q, state %s", msgs, page.State)
	}
	// The worker may write no more: it no longer holds the run.
	err := worker.Do(ctx, "POST", "/runs/"+run.ID+"/writes", WriteRequest{Worker: "w1", Write: store.Write{Start: &store.Start{Time: now}}}, nil)
	if status(err) != 410 {
		t.Errorf("write after the end: %v, want 410", err)
	}
	var audit []store.AuditEntry
	if err := ts.admin.Do(ctx, "GET", "/audit", nil, &audit); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range audit {
		found = found || a.Action == "runs.create" && a.Role == string(auth.Developer)
	}
	if !found {
		t.Errorf("no audit entry of the run's creation: %+v", audit)
	}
}

// TestBadRunParameters: a run's parameters are checked against the
// flow's, with the field named.
func TestBadRunParameters(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	ts.deploy(t, ts.admin, DeploymentSpec{Params: []Param{{Name: "n", Default: json.RawMessage("1"), Type: "integer"}, {Name: "dir"}}})
	for _, c := range []struct {
		params map[string]json.RawMessage
		want   string
	}{
		{map[string]json.RawMessage{"dir": json.RawMessage(`"x"`), "m": json.RawMessage("1")}, "m: the flow has no such parameter"},
		{map[string]json.RawMessage{"dir": json.RawMessage(`"x"`), "n": json.RawMessage(`"five"`)}, "n: want integer"},
		{nil, "dir: required"},
	} {
		err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{Parameters: c.params}, nil)
		if status(err) != 422 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want 422 saying %q", c.params, err, c.want)
		}
	}
	// Unknown fields and malformed JSON are refused.
	for _, body := range []string{`{"parameters": {}, "bogus": 1}`, `{"parameters": `} {
		req, _ := http.NewRequest("POST", ts.http.URL+"/api/v1/deployments/F/nightly/runs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ts.admin.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
			t.Errorf("%s: %d %s, want a problem+json 4xx", body, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestRoles: every action of package auth's table, for every role, is
// allowed or refused (403) as auth.Allow says for the request's scope;
// no token, or a forged one, is 401. Then the holder rule with a run a
// worker holds: its token may report on it and read its secrets and
// bundle; another worker token of the same pool may not.
func TestRoles(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	clients := map[auth.Role]*Client{auth.Admin: ts.admin}
	for _, r := range auth.Roles()[1:4] {
		clients[r] = ts.token(t, string(r))
	}
	tokenRun, runTok := ts.runToken(t)
	clients[auth.Run] = runTok
	zero := strings.Repeat("0", 64)
	type call struct {
		do    func(c *Client) error
		scope auth.Scope
	}
	calls := map[auth.Action]call{
		auth.RunsRead:   {func(c *Client) error { return c.Do(ctx, "GET", "/runs", nil, nil) }, auth.Scope{}},
		auth.RunsCreate: {func(c *Client) error { return c.Do(ctx, "POST", "/deployments/no/such/runs", RunRequest{}, nil) }, auth.Scope{}},
		auth.RunsCancel: {func(c *Client) error { return c.Do(ctx, "POST", "/runs/nosuch/cancel", nil, nil) }, auth.Scope{}},
		auth.RunsReport: {func(c *Client) error {
			return c.Do(ctx, "POST", "/runs/nosuch/crash", map[string]string{"worker": "w"}, nil)
		}, auth.Scope{}},
		auth.RunsToken: {func(c *Client) error {
			return c.Do(ctx, "POST", "/runs/nosuch/token", RunTokenRequest{Worker: "w"}, nil)
		}, auth.Scope{}},
		auth.RunsResumed: {func(c *Client) error {
			return c.Do(ctx, "GET", "/runs/nosuch/resumed?worker=w", nil, nil)
		}, auth.Scope{}},
		auth.RunsChildren: {func(c *Client) error {
			return c.Do(ctx, "POST", "/runs/nosuch/children", ChildRunRequest{Deployment: "no/such"}, nil)
		}, auth.Scope{}},
		auth.DeploymentsRead:  {func(c *Client) error { return c.Do(ctx, "GET", "/deployments", nil, nil) }, auth.Scope{}},
		auth.DeploymentsWrite: {func(c *Client) error { return c.Do(ctx, "POST", "/deployments/no/such/pause", nil, nil) }, auth.Scope{}},
		auth.BundlesWrite:     {func(c *Client) error { return c.Do(ctx, "PUT", "/bundles/"+zero, []byte("x"), nil) }, auth.Scope{}},
		auth.BundlesRead:      {func(c *Client) error { return c.Do(ctx, "GET", "/bundles/"+zero, nil, nil) }, auth.Scope{}},
		auth.PoolsRead:        {func(c *Client) error { return c.Do(ctx, "GET", "/pools", nil, nil) }, auth.Scope{}},
		auth.PoolsWrite:       {func(c *Client) error { return c.Do(ctx, "POST", "/pools/nosuch/pause", nil, nil) }, auth.Scope{Pool: "nosuch"}},
		auth.WorkersClaim: {func(c *Client) error {
			return c.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w", Slots: 1}, Max: 1}, nil)
		}, auth.Scope{Pool: "default"}},
		auth.WorkersHeartbeat: {func(c *Client) error {
			return c.Do(ctx, "POST", "/pools/default/heartbeat", Heartbeat{Worker: WorkerInfo{ID: "w", Slots: 1}}, nil)
		}, auth.Scope{Pool: "default"}},
		auth.SecretsList:      {func(c *Client) error { return c.Do(ctx, "GET", "/secrets", nil, nil) }, auth.Scope{}},
		auth.SecretsWrite:     {func(c *Client) error { return c.Do(ctx, "DELETE", "/secrets/NOSUCH", nil, nil) }, auth.Scope{}},
		auth.SecretsReadValue: {func(c *Client) error { return c.Do(ctx, "GET", "/runs/nosuch/secrets/X?worker=w", nil, nil) }, auth.Scope{}},
		auth.TokensList:       {func(c *Client) error { return c.Do(ctx, "GET", "/tokens", nil, nil) }, auth.Scope{}},
		auth.TokensWrite:      {func(c *Client) error { return c.Do(ctx, "DELETE", "/tokens/nosuch", nil, nil) }, auth.Scope{}},
		auth.AuditRead:        {func(c *Client) error { return c.Do(ctx, "GET", "/audit", nil, nil) }, auth.Scope{}},
	}
	for _, action := range auth.Actions() {
		c, ok := calls[action]
		if !ok {
			t.Errorf("no request tests action %s", action)
			continue
		}
		for _, bad := range []*Client{{Base: ts.admin.Base}, {Base: ts.admin.Base, Token: auth.New().Plaintext}} {
			if got := status(c.do(bad)); got != 401 {
				t.Errorf("%s without a valid token: %d, want 401", action, got)
			}
		}
		for role, cl := range clients {
			p := &auth.Principal{ID: "x", Role: role}
			switch role {
			case auth.Worker:
				p.Pool = "default"
			case auth.Run:
				p.Pool, p.Run = "default", tokenRun.ID
			}
			err := c.do(cl)
			switch want := auth.Allow(p, action, c.scope); {
			case want == nil && (status(err) == 401 || status(err) == 403):
				t.Errorf("%s as %s: %v, want it allowed", action, role, err)
			case want != nil && status(err) != 403:
				t.Errorf("%s as %s: %v, want 403 (%v)", action, role, err, want)
			}
		}
	}

	// The holder rule, with a run the worker token holds.
	ts.deploy(t, ts.admin, DeploymentSpec{})
	var run store.Run
	if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	holder, other := clients[auth.Worker], ts.token(t, string(auth.Worker))
	var claimed []Claimed
	if err := holder.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Slots: 1}, Max: 1}, &claimed); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	bundle := "/bundles/" + claimed[0].Bundle + "?run=" + run.ID
	start := WriteRequest{Worker: "w1", Write: store.Write{Start: &store.Start{Time: time.Now()}}}
	for _, c := range []struct {
		what string
		do   func(c *Client) error
	}{
		{"read its bundle", func(c *Client) error { return c.Do(ctx, "GET", bundle, nil, nil) }},
		{"read the run", func(c *Client) error { return c.Do(ctx, "GET", "/runs/"+run.ID, nil, nil) }},
		{"write to the run", func(c *Client) error { return c.Do(ctx, "POST", "/runs/"+run.ID+"/writes", start, nil) }},
	} {
		if err := c.do(holder); err != nil {
			t.Errorf("the holder may %s: %v", c.what, err)
		}
		if err := c.do(other); status(err) != 403 {
			t.Errorf("another worker token of the pool may not %s: %v, want 403", c.what, err)
		}
	}
	// What a run resumes is its holder's to read (this one resumes none).
	if err := holder.Do(ctx, "GET", "/runs/"+run.ID+"/resumed?worker=w1", nil, nil); status(err) != 404 {
		t.Errorf("the holder asks what its run resumes: %v, want 404 (none)", err)
	}
	if err := other.Do(ctx, "GET", "/runs/"+run.ID+"/resumed?worker=w1", nil, nil); status(err) != 403 {
		t.Errorf("another worker token asks what a run resumes: %v, want 403", err)
	}
	if err := runTok.Do(ctx, "GET", "/runs/"+run.ID+"/resumed?worker=w1", nil, nil); status(err) != 403 {
		t.Errorf("a run token asks what another run resumes: %v, want 403", err)
	}
	// A bundle asked for under another run's name is refused.
	if err := holder.Do(ctx, "GET", "/bundles/"+zero+"?run="+run.ID, nil, nil); status(err) != 403 {
		t.Errorf("a bundle not the run's: %v, want 403", err)
	}

	// A run token acts on its run only, while it is held, and is revoked
	// when the run ends.
	tstart := WriteRequest{Worker: "w2", Write: store.Write{Start: &store.Start{Time: time.Now()}}}
	for _, c := range []struct {
		what string
		do   func(c *Client, id string) error
	}{
		{"read the run", func(c *Client, id string) error { return c.Do(ctx, "GET", "/runs/"+id, nil, nil) }},
		{"read its bundle", func(c *Client, id string) error {
			return c.Do(ctx, "GET", "/bundles/"+claimed[0].Bundle+"?run="+id, nil, nil)
		}},
		{"read a secret", func(c *Client, id string) error {
			return c.Do(ctx, "GET", "/runs/"+id+"/secrets/API_KEY?worker=w2", nil, nil)
		}},
		{"write to the run", func(c *Client, id string) error { return c.Do(ctx, "POST", "/runs/"+id+"/writes", tstart, nil) }},
	} {
		// (The test server has no key for secrets: 503 past the check.)
		if err := c.do(runTok, tokenRun.ID); status(err) == 401 || status(err) == 403 || err != nil && c.what != "read a secret" {
			t.Errorf("a run token may %s of its run: %v", c.what, err)
		}
		if err := c.do(runTok, run.ID); status(err) != 403 {
			t.Errorf("a run token may not %s of another run: %v, want 403", c.what, err)
		}
	}
	if err := runTok.Do(ctx, "POST", "/runs/"+tokenRun.ID+"/token", RunTokenRequest{Worker: "w2"}, nil); status(err) != 403 {
		t.Errorf("a run token made a run token: %v, want 403", err)
	}
	end := WriteRequest{Worker: "w2", Write: store.Write{Chunk: &store.Chunk{Seq: 5, Tasks: "[]", Children: "{}", LogsZ: []byte{3, 0}, // an empty deflate stream
		Final: &store.Final{State: runtime.Success, Time: time.Now()}}}}
	if err := runTok.Do(ctx, "POST", "/runs/"+tokenRun.ID+"/writes", end, nil); err != nil {
		t.Fatalf("the run's end, written with its token: %v", err)
	}
	if err := runTok.Do(ctx, "GET", "/runs/"+tokenRun.ID, nil, nil); status(err) != 401 {
		t.Errorf("a run token after its run ended: %v, want 401 (revoked)", err)
	}
}

// TestOpenAPIDocument: the document is served, valid OpenAPI 3.1 by
// libopenapi-validator, with the paths the CLI uses; and the API's real
// answers (runs listed, a run, a run made, an error) validate against it.
func TestOpenAPIDocument(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	resp, err := http.Get(ts.http.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s", e.Error())
		}
	}
	var paths struct {
		Paths map[string]any `json:"paths"`
	}
	json.Unmarshal(spec, &paths)
	for _, p := range []string{"/api/v1/runs", "/api/v1/pools/{pool}/claim", "/api/v1/deployments/{flow}/{name}/runs", "/api/v1/runs/{id}/events"} {
		if paths.Paths[p] == nil {
			t.Errorf("no path %s", p)
		}
	}
	ts.deploy(t, ts.admin, DeploymentSpec{})
	var run store.Run
	if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/runs", ""},
		{"GET", "/api/v1/runs/" + run.ID, ""},
		{"GET", "/api/v1/runs/" + run.ID + "?task_runs=false", ""},
		{"GET", "/api/v1/runs/" + run.ID + "/task-runs?limit=10", ""},
		{"GET", "/api/v1/runs/" + run.ID + "/tasks", ""},
		{"GET", "/api/v1/runs/" + run.ID + "/log.txt", ""},
		{"GET", "/api/v1/runs/history?buckets=5&tag=x", ""},
		{"GET", "/api/v1/runs?since=2026-01-01T00:00:00Z&state=Failed", ""},
		{"GET", "/api/v1/deployments", ""},
		{"POST", "/api/v1/deployments/F/nightly/runs", "{}"},
		{"GET", "/api/v1/runs/nosuch", ""},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, _ := http.NewRequest(c.method, ts.http.URL+c.path, body)
		req.Header.Set("Authorization", "Bearer "+ts.admin.Token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if ok, verrs := v.ValidateHttpResponse(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s (%d): %s", c.method, c.path, resp.StatusCode, e.Error())
			}
		}
	}
}

// TestTokenLifecycle: a revoked token and an expired one are refused
// (401); a body past the limit is 413.
func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	var made NewTokenReply
	if err := ts.admin.Do(ctx, "POST", "/tokens", TokenRequest{Name: "ci", Role: "viewer"}, &made); err != nil {
		t.Fatal(err)
	}
	viewer := &Client{Base: ts.admin.Base, Token: made.Token}
	if err := viewer.Do(ctx, "GET", "/runs", nil, nil); err != nil {
		t.Fatalf("a new token: %v", err)
	}
	if err := ts.admin.Do(ctx, "DELETE", "/tokens/"+made.Info.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := viewer.Do(ctx, "GET", "/runs", nil, nil); status(err) != 401 {
		t.Errorf("a revoked token: %v, want 401", err)
	}
	// Expired: made to expire in a millisecond.
	if err := ts.admin.Do(ctx, "POST", "/tokens", TokenRequest{Name: "brief", Role: "viewer", ExpiresIn: "1ms"}, &made); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	brief := &Client{Base: ts.admin.Base, Token: made.Token}
	if err := brief.Do(ctx, "GET", "/runs", nil, nil); status(err) != 401 {
		t.Errorf("an expired token: %v, want 401", err)
	}
	big := RunRequest{Parameters: map[string]json.RawMessage{"x": json.RawMessage(`"` + strings.Repeat("a", 2<<20) + `"`)}}
	if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", big, nil); status(err) != 413 {
		t.Errorf("a 2 MiB body: %v, want 413", err)
	}
}

// packed is a bundle of the given files, and its hash.
func packed(t testing.TB, files map[string]string) ([]byte, string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	info, err := bundle.Pack(dir, &buf, bundle.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info.Hash
}

// TestBadBundle: a bundle a worker would refuse to unpack (an entry
// climbing out with "..", an absolute name, a link) is refused at its
// upload, naming the entry.
func TestBadBundle(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	for _, h := range []tar.Header{
		{Name: "../evil.star", Mode: 0o644, Typeflag: tar.TypeReg, Size: 1},
		{Name: "/etc/evil", Mode: 0o644, Typeflag: tar.TypeReg, Size: 1},
		{Name: "link", Linkname: "/etc/passwd", Mode: 0o777, Typeflag: tar.TypeSymlink},
	} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("x"))
		}
		tw.Close()
		zw.Close()
		sum := sha256.Sum256(buf.Bytes())
		err := ts.admin.Do(ctx, "PUT", "/bundles/"+hex.EncodeToString(sum[:]), buf.Bytes(), nil)
		if status(err) != 422 || !strings.Contains(err.Error(), strings.TrimPrefix(h.Name, "/")) {
			t.Errorf("a bundle with %q: %v, want 422 naming it", h.Name, err)
		}
	}
}

// TestResumeRun: POST /runs/{id}/resume refuses a run that has not ended
// Failed, Cancelled or Crashed with a problem+json 409, and makes a
// Scheduled run of the same deployment that resumes a Cancelled one.
func TestResumeRun(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	ts.deploy(t, ts.admin, DeploymentSpec{})
	var run store.Run
	if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", ts.http.URL+"/api/v1/runs/"+run.ID+"/resume", nil)
	req.Header.Set("Authorization", "Bearer "+ts.admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") || !strings.Contains(string(body), "is Scheduled") {
		t.Errorf("resume of a Scheduled run: %d %s %s, want a problem+json 409", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if err := ts.admin.Do(ctx, "POST", "/runs/"+run.ID+"/cancel", nil, nil); err != nil {
		t.Fatal(err)
	}
	var nr store.Run
	if err := ts.admin.Do(ctx, "POST", "/runs/"+run.ID+"/resume", nil, &nr); err != nil {
		t.Fatal(err)
	}
	if nr.ResumedFrom != run.ID || nr.State != runtime.Scheduled || nr.Server == nil || nr.Server.Deployment != run.Server.Deployment || nr.ID == run.ID {
		t.Errorf("the resuming run: %+v, want a Scheduled run of the deployment resuming %s", nr, run.ID)
	}
	if err := ts.admin.Do(ctx, "POST", "/runs/nosuch/resume", nil, nil); status(err) != 404 {
		t.Errorf("resume of no run: %v, want 404", err)
	}
}

// TestStopEndsWaits: Stop answers a claim's long poll and a slot
// waiter's at once and ends a run's event stream, each of which would
// otherwise wait 30 s or, for the stream of a run still running, for
// ever; calls made after it still work.
func TestStopEndsWaits(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	run, rt := ts.runToken(t)
	worker := ts.token(t, string(auth.Worker))
	done := make(chan string, 3)
	started := make(chan struct{}, 3)
	go func() {
		var out []Claimed
		started <- struct{}{}
		err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w9", Name: "w", Slots: 1}, Max: 1, WaitMS: 30000}, &out)
		done <- fmt.Sprintf("claim: %d runs, %v", len(out), err)
	}()
	go func() {
		var out SlotsFreed
		started <- struct{}{}
		err := rt.Do(ctx, "GET", "/runs/"+run.ID+"/slots/freed?after=0&wait_ms=30000", nil, &out)
		done <- fmt.Sprintf("slots: %v", err)
	}()
	go func() {
		req, _ := http.NewRequest("GET", ts.http.URL+"/api/v1/runs/"+run.ID+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+rt.Token)
		started <- struct{}{}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- "events: " + err.Error()
			return
		}
		defer resp.Body.Close()
		io.ReadAll(resp.Body) // until the stream ends
		done <- fmt.Sprintf("events: %d", resp.StatusCode)
	}()
	for range 3 {
		<-started
	}
	time.Sleep(300 * time.Millisecond) // into their waits: none answers before Stop
	select {
	case got := <-done:
		t.Fatalf("answered before Stop: %s", got)
	default:
	}
	ts.srv.Stop()
	for range 3 {
		select {
		case got := <-done:
			if !strings.HasSuffix(got, "<nil>") && got != "events: 200" {
				t.Errorf("%s", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a wait did not end with Stop")
		}
	}
	if err := ts.admin.Do(ctx, "GET", "/runs/"+run.ID, nil, nil); err != nil {
		t.Errorf("a call after Stop: %v", err)
	}
}
