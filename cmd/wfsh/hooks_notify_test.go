package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/plugins/notify/notifytest"
)

// notifyBinaries builds wfsh and, next to it where wfsh looks first,
// wfsh-plugin-notify.
func notifyBinaries(t *testing.T) string {
	t.Helper()
	wfsh := wfshBinary(t)
	proctest.BuildT(t, map[string]string{filepath.Join(filepath.Dir(wfsh), "wfsh-plugin-notify"): "./cmd/wfsh-plugin-notify"})
	return wfsh
}

// posts is a local webhook endpoint that records the JSON bodies it gets.
type posts struct {
	mu     sync.Mutex
	bodies []map[string]any
	auth   []string
}

func (p *posts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	p.mu.Lock()
	p.bodies = append(p.bodies, m)
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	p.mu.Unlock()
	if strings.Contains(r.URL.Path, "/down/") {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	io.WriteString(w, "ok")
}

// got returns the bodies and Authorization headers received so far.
func (p *posts) got() ([]map[string]any, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bodies), slices.Clone(p.auth)
}

// runWfsh runs wfsh with env added to the test's and returns its exit
// status and output.
func runWfsh(t *testing.T, wfsh string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(wfsh, args...)
	cmd.Env = append(os.Environ(), append(env, "WFSH_HOME="+t.TempDir())...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// TestHooksNotify runs flows/hooks.star with a broken source: each failed
// run (extract, load_rows, the flow) posts one Slack message to a local
// endpoint whose URL is a secret, and the URL's token shows nowhere in
// the output, in log lines or JSON events.
func TestHooksNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wfsh and its @notify plugin")
	}
	wfsh := notifyBinaries(t)
	p := &posts{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	const token = "T0AAA/B0BBB/xoxb-s3cr3t-t0ken"
	env := []string{"SLACK_WEBHOOK_URL=" + srv.URL + "/services/" + token}
	code, out := runWfsh(t, wfsh, env, "run", "../../flows/hooks.star", "-p", "broken=true", "--concurrency", "1")
	if code != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", code, out)
	}
	var texts []string
	bodies, _ := p.got()
	for _, b := range bodies {
		texts = append(texts, b["text"].(string))
	}
	slices.Sort(texts)
	if len(texts) == 3 && regexp.MustCompile(`^:red_circle: flow Hooks ended Failed \(run [0-9a-f-]{36}\)$`).MatchString(texts[2]) {
		texts[2] = "the flow's"
	}
	want := []string{
		":red_circle: Hooks: task run extract ended Failed: ../../flows/hooks.star:34:13: fail: the source is broken",
		":red_circle: Hooks: task run load_rows ended TriggerFailed: trigger all_successful was not met by upstream states [Failed]",
		"the flow's",
	}
	if !slices.Equal(texts, want) {
		t.Errorf("Slack messages:\n%s\nwant:\n%s\noutput:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"), out)
	}
	for _, line := range []string{
		"INFO - wfsh.extract | POST " + srv.URL + ": 200 OK",
		"INFO - wfsh.FlowRunner | flow Hooks ended Failed with broken=True",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("no line %q in:\n%s", line, out)
		}
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "error") {
		t.Errorf("output shows the token or an error:\n%s", out)
	}
	code, out = runWfsh(t, wfsh, env, "run", "../../flows/hooks.star", "-p", "broken=true", "--json")
	if code != 1 || strings.Contains(out, "s3cr3t") || !strings.Contains(out, `"msg":"POST `+srv.URL+`: 200 OK"`) {
		t.Errorf("--json: exit status %d, output:\n%s", code, out)
	}
}

const notifyFlow = `
load("@notify", "webhook", "email")

def mail(task, task_run, state):
    email(host = "127.0.0.1", port = context.parameters["smtp_port"], sender = "wfsh@example.com", to = ["ops@example.com"],
          subject = "%s ended %s" % (task_run.name, state.name), body = state.message,
          username = "wfsh", password = secret("SMTP_PASSWORD"), ca_cert = secret("SMTP_CA"))

def post(task, task_run, state):
    webhook(url = secret("HOOK_URL"), body = {"run": task_run.name, "state": state.name, "n": task_run.run_count},
            headers = {"Authorization": "Bearer " + secret("HOOK_TOKEN")})

def down(task, task_run, state):
    webhook(url = secret("DOWN_URL"), body = {"run": task_run.name})

@task(on_failure = [mail, post], on_success = [down, post])
def t(ok):
    if not ok:
        fail("it broke")
    return 1

@flow
def f(smtp_port = 25):
    t(True)
    t(False)
`

// TestHooksEmailAndWebhook: an e-mail over STARTTLS with a password from a
// secret, and a webhook with a secret bearer token; a hook whose endpoint
// answers 503 is logged and changes nothing.
func TestHooksEmailAndWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wfsh and its @notify plugin")
	}
	wfsh := notifyBinaries(t)
	smtpSrv := notifytest.StartSMTP(t, notifytest.Options{Users: map[string]string{"wfsh": "pw-s3cr3t-smtp"}})
	p := &posts{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "f.star")
	if err := os.WriteFile(file, []byte(notifyFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"SMTP_PASSWORD=pw-s3cr3t-smtp", "SMTP_CA=" + smtpSrv.CertPEM,
		"HOOK_URL=" + srv.URL + "/hook/s3cr3t-path", "HOOK_TOKEN=tok-s3cr3t-bearer", "DOWN_URL=" + srv.URL + "/down/s3cr3t-down"}
	code, out := runWfsh(t, wfsh, env, "run", file, "--concurrency", "1", "-p", "smtp_port="+strconv.Itoa(smtpSrv.Port))
	if code != 1 {
		t.Fatalf("exit status %d, want 1 (t-2 failed):\n%s", code, out)
	}
	mails := smtpSrv.Mails()
	if len(mails) != 1 || !mails[0].TLS || mails[0].Password != "pw-s3cr3t-smtp" ||
		!strings.Contains(mails[0].Data, "Subject: t-2 ended Failed\r\n") || !strings.Contains(mails[0].Data, "fail: it broke") {
		t.Errorf("mails: %+v", mails)
	}
	var got []string
	bodies, auth := p.got()
	for i, b := range bodies {
		got = append(got, mustMarshal(b)+" "+auth[i])
	}
	slices.Sort(got)
	want := []string{
		`{"n":1,"run":"t","state":"Success"} Bearer tok-s3cr3t-bearer`,
		`{"n":1,"run":"t-2","state":"Failed"} Bearer tok-s3cr3t-bearer`,
		`{"run":"t"} `,
	}
	if !slices.Equal(got, want) {
		t.Errorf("posts %q, want %q", got, want)
	}
	for _, line := range []string{"INFO - wfsh.t-2 | sent to 1 recipient(s) through " + smtpSrv.Addr,
		"INFO - wfsh.t | Running on_success hook post for state Success"} {
		if !strings.Contains(out, line) {
			t.Errorf("no line %q", line)
		}
	}
	wantLine := "ERROR - wfsh.t | on_success hook down failed (the state stays Success): " + file + ":14:12: notify.webhook: POST " + srv.URL + ": 503 Service Unavailable: ok"
	if !strings.Contains(out, wantLine) || !strings.Contains(out, "Task 't': Finished task run for task with final state: 'Success'") {
		t.Errorf("no line %q in:\n%s", wantLine, out)
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("a secret in the output:\n%s", out)
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
