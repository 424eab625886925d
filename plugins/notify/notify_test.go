package notify

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wfsh/wfsh/plugins/notify/notifytest"
	"github.com/wfsh/wfsh/plugins/sdk"
)

// call calls function fn of @notify in-process, with the defaults of the
// parameters it is not given, as the SDK's server would.
func call(t *testing.T, fn string, given map[string]any) (any, error) {
	t.Helper()
	for _, f := range Plugin().Functions {
		if f.Name != fn {
			continue
		}
		args := map[string]any{}
		for _, p := range f.Params {
			if !p.Required {
				args[p.Name] = p.Default
			}
		}
		maps.Copy(args, given)
		return f.Run(t.Context(), &sdk.Call{Args: args, TaskRun: "t", FlowRun: "test"})
	}
	t.Fatalf("@notify has no function %s", fn)
	return nil, nil
}

// request is what a local HTTP server received.
type request struct {
	method, path string
	header       http.Header
	body         map[string]any
}

// recorder is a local HTTP server that records requests and answers with
// status and answer.
func recorder(t *testing.T, status int, answer string) (*httptest.Server, func() []request) {
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := request{method: r.Method, path: r.URL.Path, header: r.Header}
		if err := json.Unmarshal(b, &req.body); err != nil {
			t.Errorf("body is not a JSON object: %v: %s", err, b)
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestSlackPayload(t *testing.T) {
	srv, got := recorder(t, 200, "ok")
	res, err := call(t, "slack", map[string]any{"url": srv.URL + "/services/T0/B0/XYZ", "text": "*etl* failed",
		"username": "wfsh", "blocks": []any{map[string]any{"type": "section"}}})
	if err != nil || res != "ok" {
		t.Fatalf("slack: %v, %v", res, err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/services/T0/B0/XYZ" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s %q", r.method, r.path, r.header.Get("Content-Type"))
	}
	want := map[string]any{"text": "*etl* failed", "username": "wfsh", "blocks": []any{map[string]any{"type": "section"}}}
	if b, w := mustJSON(r.body), mustJSON(want); b != w {
		t.Errorf("payload %s, want %s", b, w)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestWebhookBodyAndHeaders(t *testing.T) {
	srv, got := recorder(t, 201, "created")
	res, err := call(t, "webhook", map[string]any{"url": srv.URL + "/hook", "method": "put",
		"body":    map[string]any{"flow": "etl", "state": "Failed", "n": int64(3)},
		"headers": map[string]any{"Authorization": "Bearer tok", "X-Run": "r1"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := res.(map[string]any); !ok || m["status"] != int64(201) || m["body"] != "created" {
		t.Errorf("returned %#v", res)
	}
	r := got()[0]
	if r.method != "PUT" || r.header.Get("Authorization") != "Bearer tok" || r.header.Get("X-Run") != "r1" {
		t.Errorf("%s, headers %v", r.method, r.header)
	}
	if b := mustJSON(r.body); b != `{"flow":"etl","n":3,"state":"Failed"}` {
		t.Errorf("body %s", b)
	}
}

// TestErrorsHideThePath: the path of a webhook URL is its secret; no error
// repeats it, not even Go's own "Post \"URL\": ..." ones.
func TestErrorsHideThePath(t *testing.T) {
	srv, _ := recorder(t, 404, "no_service")
	_, err := call(t, "slack", map[string]any{"url": srv.URL + "/services/SECRETPATH", "text": "x"})
	if err == nil || err.Error() != "POST "+srv.URL+": 404 Not Found: no_service" {
		t.Errorf("error %v", err)
	}
	srv.Close()
	_, err = call(t, "webhook", map[string]any{"url": srv.URL + "/SECRETPATH", "body": nil})
	if err == nil || strings.Contains(err.Error(), "SECRETPATH") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %v", err)
	}
	for _, bad := range []string{"ftp://example.com/x", "hooks.slack.com/services/x", "http://"} {
		if _, err := call(t, "slack", map[string]any{"url": bad, "text": "x"}); err == nil || err.Error() != "url: want an http:// or https:// URL" {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := call(t, "webhook", map[string]any{"url": srv.URL, "headers": map[string]any{"X": "a\r\nEvil: 1"}}); err == nil || !strings.Contains(err.Error(), "must be one line") {
		t.Errorf("header with a line break: %v", err)
	}
	if _, err := call(t, "slack", map[string]any{"url": srv.URL, "text": "x", "timeout": "soon"}); err == nil || !strings.Contains(err.Error(), `timeout: bad duration "soon"`) {
		t.Errorf("bad timeout: %v", err)
	}
}

func TestEmailOverSTARTTLS(t *testing.T) {
	srv := notifytest.StartSMTP(t, notifytest.Options{Users: map[string]string{"wfsh": "s3cret-pw"}})
	args := map[string]any{"host": srv.Host, "port": int64(srv.Port), "sender": "wfsh <wfsh@example.com>",
		"to": []any{"ops@example.com", "Ada <ada@example.com>"}, "subject": "Flow etl: Failed é",
		"body": "load failed\nat flows/etl.star:12:5", "username": "wfsh", "password": "s3cret-pw", "ca_cert": srv.CertPEM}
	if _, err := call(t, "email", args); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	m := mails[0]
	if !m.TLS || m.User != "wfsh" || m.Password != "s3cret-pw" || m.From != "wfsh@example.com" ||
		!slices.Equal(m.To, []string{"ops@example.com", "ada@example.com"}) {
		t.Errorf("mail %+v", m)
	}
	for _, want := range []string{"From: \"wfsh\" <wfsh@example.com>\r\n", "To: <ops@example.com>, \"Ada\" <ada@example.com>\r\n",
		"Subject: =?utf-8?q?Flow_etl:_Failed_=C3=A9?=\r\n", "Content-Type: text/plain; charset=utf-8\r\n",
		"\r\n\r\nload failed\r\nat flows/etl.star:12:5\r\n"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.Data)
		}
	}
}

// TestEmailRefusals: no STARTTLS, an untrusted certificate, a wrong
// password: each fails with what went wrong, and no password is sent in
// clear.
func TestEmailRefusals(t *testing.T) {
	base := func(s *notifytest.SMTP) map[string]any {
		return map[string]any{"host": s.Host, "port": int64(s.Port), "sender": "wfsh@example.com", "to": "ops@example.com",
			"subject": "s", "body": "b", "ca_cert": s.CertPEM}
	}
	plain := notifytest.StartSMTP(t, notifytest.Options{NoTLS: true})
	if _, err := call(t, "email", base(plain)); err == nil || !strings.Contains(err.Error(), "the server does not offer STARTTLS") {
		t.Errorf("no STARTTLS: %v", err)
	}
	// starttls=False to a relay on 127.0.0.1 sends in clear, as asked.
	args := base(plain)
	args["starttls"] = false
	if _, err := call(t, "email", args); err != nil || len(plain.Mails()) != 1 || plain.Mails()[0].TLS {
		t.Errorf("starttls=False: %v, %+v", err, plain.Mails())
	}
	tlsSrv := notifytest.StartSMTP(t, notifytest.Options{Users: map[string]string{"wfsh": "right"}})
	args = base(tlsSrv)
	delete(args, "ca_cert")
	if _, err := call(t, "email", args); err == nil || !strings.Contains(err.Error(), "STARTTLS: tls: failed to verify certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	args = base(tlsSrv)
	args["username"], args["password"] = "wfsh", "wrong"
	if _, err := call(t, "email", args); err == nil || !strings.Contains(err.Error(), "login as wfsh") {
		t.Errorf("wrong password: %v", err)
	}
	args = base(tlsSrv)
	args["subject"] = "a\r\nBcc: evil@example.com"
	if _, err := call(t, "email", args); err == nil || err.Error() != "subject: must be one line" {
		t.Errorf("subject with a line break: %v", err)
	}
	if n := len(tlsSrv.Mails()); n != 0 {
		t.Errorf("%d mails accepted", n)
	}
}
