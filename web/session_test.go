package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

func cookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	return nil
}

// TestLogin: the pages send a browser without a session to the login
// page; a token logs in (HttpOnly, SameSite=Strict cookie), a bad or a
// worker's is refused with a message; logout ends the session.
func TestLogin(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	resp, err := b.Get(f.http.URL + "/runs?state=Failed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "/login?" + url.Values{"m": {"login"}, "next": {"/runs?state=Failed"}}.Encode()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != want {
		t.Fatalf("runs without a session: %s to %q", resp.Status, loc)
	}
	if code, body := get(t, b, f.http.URL, "/login?m=login"); code != 200 || !strings.Contains(body, "Log in with a token to see this page.") {
		t.Errorf("login page: %d\n%s", code, body)
	}
	for _, c := range []struct{ token, want string }{
		{"nonsense", "That is not a wfsh token"},
		{auth.New().Plaintext, "The token is unknown, expired or revoked."},
		{f.token(t, "worker").Token, "A worker token cannot browse"},
	} {
		resp, err := b.PostForm(f.http.URL+"/login", url.Values{"token": {c.token}})
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 64<<10)
		n, _ := resp.Body.Read(buf)
		body.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode < 400 || cookieOf(resp) != nil || !strings.Contains(body.String(), c.want) {
			t.Errorf("login with %q: %s, cookie %v, page lacks %q", c.token, resp.Status, cookieOf(resp), c.want)
		}
	}
	viewer := f.token(t, "viewer")
	resp, err = b.PostForm(f.http.URL+"/login", url.Values{"token": {viewer.Token}, "next": {"/deployments"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c := cookieOf(resp)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/deployments" || c == nil {
		t.Fatalf("login: %s to %q, cookie %v", resp.Status, resp.Header.Get("Location"), c)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, a max age, not Secure without TLS", c)
	}
	// The cookie holds a session of the server's, not the token.
	if strings.Contains(c.Value, strings.TrimPrefix(viewer.Token, auth.Prefix)) || auth.CheckSessionFormat(c.Value) != nil {
		t.Errorf("the session cookie %q is not a session's secret (token %s)", c.Value, viewer.Token)
	}
	if max := int(server.SessionLife.Seconds()); c.MaxAge > max {
		t.Errorf("cookie max age %d s, past the session's life %d s", c.MaxAge, max)
	}
	code, body := get(t, b, f.http.URL, "/runs")
	if code != 200 || !strings.Contains(body, "viewer token ") {
		t.Errorf("runs after login: %d", code)
	}
	// A viewer sees no Cancel, Pause or Run, no secrets or tokens link.
	for _, no := range []string{`href="/secrets"`, `href="/tokens"`} {
		if strings.Contains(body, no) {
			t.Errorf("a viewer's page has %s", no)
		}
	}
	// A redirect after login goes only to this site.
	resp, _ = b.PostForm(f.http.URL+"/login", url.Values{"token": {viewer.Token}, "next": {"//evil.example/x"}})
	resp.Body.Close()
	last := cookieOf(resp) // the session of the first login, the cookie of this one
	if loc := resp.Header.Get("Location"); loc != "/runs" {
		t.Errorf("next=//evil.example: redirected to %q", loc)
	}
	// Logout needs the session's CSRF token, and ends the session.
	resp, _ = b.PostForm(f.http.URL+"/logout", url.Values{})
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("logout without CSRF: %s", resp.Status)
	}
	resp, _ = b.PostForm(f.http.URL+"/logout", url.Values{"csrf": {auth.CSRF(last.Value)}})
	resp.Body.Close()
	if c := cookieOf(resp); resp.StatusCode != 303 || c == nil || c.MaxAge >= 0 {
		t.Errorf("logout: %s, cookie %+v", resp.Status, c)
	}
	if code, _ := get(t, b, f.http.URL, "/runs"); code != 303 {
		t.Errorf("runs after logout: %d, want 303 to the login page", code)
	}
	// Logout ended the session on the server: its cookie, kept by a
	// browser that ignored the clearing, is refused; the other session
	// of the same token goes on.
	for _, cc := range []struct {
		secret string
		want   int
	}{{last.Value, 401}, {c.Value, 200}} {
		req, _ := http.NewRequest("GET", f.http.URL+"/api/v1/whoami", nil)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cc.secret})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != cc.want {
			t.Errorf("whoami with a session cookie after logout: %s, want %d", resp.Status, cc.want)
		}
	}
}

// TestSecureCookie: under TLS the cookie is Secure.
func TestSecureCookie(t *testing.T) {
	f := newFixture(t)
	ui := New(Options{API: http.NotFoundHandler(), Secure: true})
	rec := &headerRecorder{h: http.Header{}}
	ui.setCookie(rec, f.session(t, f.admin.Token), server.SessionLife)
	c, err := http.ParseSetCookie(rec.h.Get("Set-Cookie"))
	if err != nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie under TLS: %+v %v", c, err)
	}
}

type headerRecorder struct{ h http.Header }

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(int)             {}

// TestCSRF: a form posted without the session's CSRF token (what a
// form on another site sends) is refused, and does nothing; the same
// with it is done. A cross-site request to the API with the cookie is
// refused too.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	f.deploy(t)
	b := f.browser(t)
	csrf := f.login(t, b, f.admin.Token)
	post := func(path string, form url.Values) int {
		resp, err := b.PostForm(f.http.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	paused := func() bool {
		var d struct{ Paused bool }
		f.admin.Do(context.Background(), "GET", "/deployments/F/nightly", nil, &d)
		return d.Paused
	}
	if code := post("/deployments/F/nightly/pause", url.Values{}); code != 403 || paused() {
		t.Errorf("pause without CSRF: %d, paused %v", code, paused())
	}
	if code := post("/deployments/F/nightly/pause", url.Values{"csrf": {auth.CSRF(auth.New().Plaintext)}}); code != 403 || paused() {
		t.Errorf("pause with another session's CSRF: %d, paused %v", code, paused())
	}
	if code := post("/deployments/F/nightly/pause", url.Values{"csrf": {csrf}}); code != 303 || !paused() {
		t.Errorf("pause with CSRF: %d, paused %v", code, paused())
	}
	// Resume, as the run page's button posts it: nothing made without
	// the session's CSRF token.
	var ended store.Run
	if err := f.admin.Do(context.Background(), "POST", "/deployments/F/nightly/runs", server.RunRequest{Parameters: map[string]json.RawMessage{"who": json.RawMessage(`"ann"`)}}, &ended); err != nil {
		t.Fatal(err)
	}
	if err := f.admin.Do(context.Background(), "POST", "/runs/"+ended.ID+"/cancel", nil, nil); err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		var l server.RunList
		f.admin.Do(context.Background(), "GET", "/runs", nil, &l)
		return len(l.Runs)
	}
	before := runs()
	if code := post("/runs/"+ended.ID+"/resume", url.Values{}); code != 403 || runs() != before {
		t.Errorf("resume without CSRF: %d, %d runs (were %d)", code, runs(), before)
	}
	if code := post("/runs/"+ended.ID+"/resume", url.Values{"csrf": {csrf}}); code != 303 || runs() != before+1 {
		t.Errorf("resume with CSRF: %d, %d runs (were %d)", code, runs(), before)
	}
	// The API itself, called with the cookie (as a page's script does).
	req, _ := http.NewRequest("POST", f.http.URL+"/api/v1/deployments/F/nightly/resume", nil)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || !paused() {
		t.Errorf("API POST with the cookie, no CSRF header: %s, paused %v", resp.Status, paused())
	}
	req, _ = http.NewRequest("POST", f.http.URL+"/api/v1/deployments/F/nightly/resume", nil)
	req.Header.Set(auth.CSRFHeader, csrf)
	resp, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || paused() {
		t.Errorf("API POST with the cookie and CSRF header: %s, paused %v", resp.Status, paused())
	}
}

// TestSessionEnds: a token revoked while browsing leads back to the
// login page with a message, not a broken page; the runs table's
// refresh gets 401 (its script goes to the login page).
func TestSessionEnds(t *testing.T) {
	f := newFixture(t)
	dev := f.token(t, "developer")
	b := f.browser(t)
	f.login(t, b, dev.Token)
	if code, _ := get(t, b, f.http.URL, "/runs"); code != 200 {
		t.Fatalf("runs: %d", code)
	}
	var who struct{ ID string }
	dev.Do(context.Background(), "GET", "/whoami", nil, &who)
	if err := f.admin.Do(context.Background(), "DELETE", "/tokens/"+who.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.http.URL+"/runs?fragment=1", nil)
	u, _ := url.Parse(f.http.URL)
	for _, c := range b.Jar.Cookies(u) {
		req.AddCookie(c) // the browser's session
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("fragment after revocation: %v %v, want 401", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	resp, err := b.Get(f.http.URL + "/runs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/login?m=expired") {
		t.Fatalf("runs after revocation: %s to %q", resp.Status, loc)
	}
	if _, body := get(t, b, f.http.URL, loc); !strings.Contains(body, "Your session has ended") {
		t.Errorf("login page after revocation lacks the message:\n%s", body)
	}
}

// TestHeaders: pages carry a Content-Security-Policy without inline
// scripts or eval: scripts from the server alone, and WebAssembly
// compiled ('wasm-unsafe-eval', for Graphviz's module on a run's page),
// nothing else added to them.
func TestHeaders(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.http.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	var scripts string
	for _, d := range strings.Split(csp, ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "script-src ") {
			scripts = d
		}
	}
	if scripts != "script-src 'self' 'wasm-unsafe-eval'" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("CSP %q", csp)
	}
}

// TestStaticETag: a static file carries an ETag, and asked again with
// it, the answer is 304 without the file.
func TestStaticETag(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.http.URL + "/static/vendor/hpcc-js-wasm-graphviz/index.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || tag == "" || resp.Header.Get("Cache-Control") != "no-cache" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("%d, ETag %q, headers %v", resp.StatusCode, tag, resp.Header)
	}
	req, _ := http.NewRequest("GET", f.http.URL+"/static/vendor/hpcc-js-wasm-graphviz/index.js", nil)
	req.Header.Set("If-None-Match", tag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("asked again with its ETag: %d, want 304", resp.StatusCode)
	}
}

// TestStaticGzip: a browser taking gzip gets a script compressed, the
// same bytes once inflated, under an ETag of its own (and 304 with it);
// one that does not gets the file as it is.
func TestStaticGzip(t *testing.T) {
	f := newFixture(t)
	const p = "vendor/hpcc-js-wasm-graphviz/index.js"
	want, err := fs.ReadFile(files, "static/"+p)
	if err != nil {
		t.Fatal(err)
	}
	get := func(enc, tag string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.http.URL+"/static/"+p, nil)
		req.Header.Set("Accept-Encoding", enc) // set: the transport does not inflate it
		if tag != "" {
			req.Header.Set("If-None-Match", tag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := get("br, gzip;q=0.8", "")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasSuffix(resp.Header.Get("ETag"), `-gz"`) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Fatalf("with gzip: %d %v", resp.StatusCode, resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, want) || len(b) >= len(want) {
		t.Fatalf("inflated %d bytes (%v) from %d, want the file's %d", len(got), err, len(b), len(want))
	}
	t.Logf("%s: %d bytes sent for %d", p, len(b), len(want))
	if again, _ := get("gzip", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
		t.Errorf("gzip asked again with its ETag: %d, want 304", again.StatusCode)
	}
	for _, enc := range []string{"identity", "gzip;q=0"} {
		plain, b := get(enc, "")
		if plain.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, want) || plain.Header.Get("ETag") == resp.Header.Get("ETag") {
			t.Errorf("Accept-Encoding %s: %d bytes, headers %v", enc, len(b), plain.Header)
		}
	}
}

// TestLogText: /runs/{id}/log.txt is the run's whole log as text (the
// API's, streamed), with the UI's headers, for a session only: without
// one, the login page; a task filter keeps that task's lines.
func TestLogText(t *testing.T) {
	f := newFixture(t)
	f.deploy(t)
	r := f.runOf(t, `{"who":"x"}`)
	w := f.claim(t, &runtime.Graph{Flow: "F"})
	w.emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "F", Node: runtime.NoNode, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: "a", Level: runtime.Info, Msg: "<b>from a</b>", Node: runtime.NoNode, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: "b", Level: runtime.Info, Msg: "from b", Node: runtime.NoNode, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, Node: runtime.NoNode, MapIndex: -1})
	if err := w.rec.Close(); err != nil {
		t.Fatal(err)
	}
	c := f.browser(t)
	resp, err := c.Get(f.http.URL + "/runs/" + r.ID + "/log.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("log.txt without a session: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	f.login(t, c, f.admin.Token)
	resp, err = c.Get(f.http.URL + "/runs/" + r.ID + "/log.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("log.txt: %s %v", resp.Status, h)
	}
	if s := string(b); !strings.Contains(s, "Beginning Flow run for 'F'") || !strings.Contains(s, "wfsh.a | <b>from a</b>") || !strings.Contains(s, "from b") {
		t.Errorf("log.txt:\n%s", s)
	}
	if code, s := get(t, c, f.http.URL, "/runs/"+r.ID+"/log.txt?task=a"); code != 200 || strings.Contains(s, "from b") || !strings.Contains(s, "from a") {
		t.Errorf("log.txt?task=a: %d\n%s", code, s)
	}
	if code, _ := get(t, c, f.http.URL, "/runs/nosuch/log.txt"); code != 404 {
		t.Errorf("log.txt of no run: %d, want 404", code)
	}
}
