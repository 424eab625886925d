// Package leaks_test checks, across packages, that a secret read by a run
// reaches none of the places a run writes: the log printer, the JSON
// printer, the store's rows and files, the terminal view, the graph, a
// session's output and the messages of the run's result.
package leaks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/dot"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/repl"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
	"github.com/wfsh/wfsh/tui"
)

// flowSrc prints the secret $LEAK_SECRET every way a flow can (repr,
// str of containers, json, yaml, %r, errors), fails with
// it, returns it, and prints each of its lines alone.
const flowSrc = `
@task
def leak():
    s = secret("LEAK_SECRET")
    print(s)
    print(repr(s))
    print([s])
    print({"k": (s, [s])})
    print(json.encode(s))
    print(json.encode({"k": [s, repr(s)]}))
    print(json.indent(json.encode([s])))
    print("%r and %s" % (s, [s]))
    print(repr(repr(s)))
    print(struct(k=s))
    print(yaml.encode({"k": s, "l": [s]}))
    return s

@task
def lines():
    for line in secret("LEAK_SECRET").split("\n"):
        print(line)
        print(repr(line))

@task
def keyerror():
    {}[secret("LEAK_SECRET")]

@task
def fails():
    fail("%r" % [secret("LEAK_SECRET")])

@task
def quoted():
    fail(json.encode(secret("LEAK_SECRET")))

@flow(name="Leak")
def f():
    leak()
    lines()
    keyerror()
    fails()
    quoted()
`

// sessionSrc is typed into a session after the file is loaded.
const sessionSrc = `r = f.run()
r.result("leak")
[r.result("leak")]
print(r.result("leak"))
r.states
r.result("fails")
{}[r.result("leak")]
`

// randomSecret returns 8 to 40 runes drawn from the whole Unicode range,
// quotes, backslashes, newlines, control characters, HTML's <>& and runes
// outside the BMP over-represented. An environment variable cannot hold
// NUL, and '*' would be found in the mask itself: both are left out.
func randomSecret(rng *rand.Rand) string {
	special := []rune{'"', '\\', '\'', '\n', '\r', '\t', 0x1b, 0x7f, '<', '>', '&', 0x2028, 0x85, 0x1f600, 0x10fffd, '%', '{'}
	n := 8 + rng.IntN(33)
	var b strings.Builder
	for utf8.RuneCountInString(b.String()) < n {
		var r rune
		switch rng.IntN(4) {
		case 0:
			r = special[rng.IntN(len(special))]
		case 1:
			r = rune(0x21 + rng.IntN(0x5e))
		default:
			r = rune(1 + rng.IntN(utf8.MaxRune))
		}
		if r == '*' || !utf8.ValidRune(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// forms is what no output may hold: the secret, as Starlark, Go, JSON and
// YAML quote it, quoted twice, and each of its lines of runtime.MinLine bytes
// or more.
func forms(s string) []string {
	inner := func(q string) string { return q[1 : len(q)-1] }
	js := func(s string) string {
		b, _ := json.Marshal(s)
		return inner(string(b))
	}
	goq := func(s string) string { return inner(strconv.Quote(s)) }
	yq := func(s string) string {
		b, _ := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: s})
		return inner(strings.TrimSpace(string(b)))
	}
	out := []string{s, goq(s), js(s), inner(strconv.QuoteToASCII(s)), goq(goq(s)), js(goq(s)), goq(js(s)), js(js(s)), yq(s)}
	if strings.Contains(s, "'") {
		out = append(out, strings.ReplaceAll(s, "'", "''"))
	}
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); len(line) >= runtime.MinLine {
			out = append(out, line, goq(line), js(line), yq(line))
		}
	}
	return out
}

// TestSecretNeverShown: for random secrets, a run that prints, quotes,
// fails with and returns its secret shows none of it anywhere.
func TestSecretNeverShown(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "leak.star")
	if err := os.WriteFile(file, []byte(flowSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	storePath := filepath.Join(dir, "store", "wfsh.db")
	st, err := store.Open(storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(18, 5))
	var secrets []string
	for i := range 40 {
		s := randomSecret(rng)
		secrets = append(secrets, s)
		t.Setenv("LEAK_SECRET", s)
		outputs := runOnce(t, file, st, fmt.Sprintf("%08d-0000-0000-0000-000000000000", i))
		outputs["session"] = session(t, file)
		for name, text := range outputs {
			checkNone(t, s, name, text)
		}
	}
	// The store's files, as they are on disk, the write-ahead log too.
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(storePath + suffix)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			checkNone(t, s, "file wfsh.db"+suffix, string(data))
		}
	}
}

func checkNone(t *testing.T, secret, where, text string) {
	t.Helper()
	for _, f := range forms(secret) {
		if i := strings.Index(text, f); i >= 0 {
			t.Fatalf("secret %q shown in %s as %q: ...%s...", secret, where, f, text[max(0, i-40):min(len(text), i+len(f)+40)])
		}
	}
}

// runOnce runs the flow as wfsh run does, into every printer and the
// store, and returns what each of them shows.
func runOnce(t *testing.T, file string, st *store.Store, runID string) map[string]string {
	t.Helper()
	m, err := builtins.Load(file, builtins.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := m.FindFlow("")
	if err != nil {
		t.Fatal(err)
	}
	red := &runtime.Redactor{}
	b, err := flow.Build(builtins.BuildOptions{RunSettings: builtins.RunSettings{RunID: runID, Redactor: red}})
	if err != nil {
		t.Fatal(err)
	}
	var logs, logsDebug, jsonOut bytes.Buffer
	var events []runtime.Event
	rec := st.NewRecorder(store.RecorderOptions{Run: store.RunInfo{ID: runID, Flow: b.Flow.Name(), File: file},
		Graph: b.Graph, AppendResult: b.AppendResult})
	res := runtime.Run(context.Background(), b.Graph, runtime.Options{RunID: runID, Redactor: red, Concurrency: 2,
		Sink: runtime.Tee(
			&output.LogPrinter{Out: &logs, Level: runtime.Info, Graph: b.Graph},
			&output.LogPrinter{Out: &logsDebug, Level: runtime.Debug, Graph: b.Graph},
			&output.JSONPrinter{Out: &jsonOut, Flow: b.Flow.Name()},
			rec,
			runtime.SinkFunc(func(e runtime.Event) { events = append(events, e) }),
		)})
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if res.State != runtime.Failed {
		t.Fatalf("run %s: %v, want Failed (three tasks fail)", runID, res.State)
	}
	for _, tr := range res.Tasks {
		if want := (tr.Name == "leak" || tr.Name == "lines"); want != (tr.State == runtime.Success) {
			t.Fatalf("run %s: task %s %v: %s", runID, tr.Name, tr.State, tr.Msg)
		}
	}
	out := map[string]string{"log": logs.String(), "log debug": logsDebug.String(), "json": jsonOut.String()}

	var results strings.Builder
	fmt.Fprintln(&results, res.Msg)
	for _, tr := range res.Tasks {
		fmt.Fprintln(&results, tr.Name, tr.State, tr.Msg)
	}
	out["result messages"] = results.String()

	// The terminal view, each task's log pane selected in turn.
	view := tui.New(tui.Options{Graph: b.Graph})
	view.SetSize(200, 60)
	view.Apply(events)
	var views strings.Builder
	views.WriteString(view.View())
	out["tui"] = views.String()

	// The graph of the finished run.
	states := map[string]runtime.State{}
	for _, tr := range res.Tasks {
		states[tr.Name] = tr.State
	}
	var drawn bytes.Buffer
	if err := dot.Write(&drawn, b.Graph, dot.Options{States: states}); err != nil {
		t.Fatal(err)
	}
	out["dot"] = drawn.String()

	// What wfsh show, wfsh logs and wfsh runs read back.
	ctx := context.Background()
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := st.TaskRuns(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.Logs(ctx, runID, store.LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 {
		t.Fatalf("run %s: nothing in the store's log", runID)
	}
	rows, _ := json.Marshal(map[string]any{"run": run, "task_runs": trs, "logs": stored})
	var storedText strings.Builder
	for _, e := range stored {
		storedText.WriteString(e.Msg + "\n")
	}
	for _, tr := range trs {
		storedText.WriteString(tr.Message + "\n" + string(tr.Result) + "\n")
	}
	out["store rows"] = storedText.String() + string(rows)
	return out
}

// session runs sessionSrc in a session over the file, as wfsh repl does
// with its input piped, and returns what it printed.
func session(t *testing.T, file string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	sc := &repl.Script{Out: &stdout, Err: &stderr, Level: runtime.Debug}
	m, err := builtins.Load(file, builtins.LoadOptions{Print: sc.Print, OnRun: sc.OnRun, RunConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := repl.New(m, repl.Options{Print: sc.Print})
	code, err := sc.Run(context.Background(), s, strings.NewReader(sessionSrc))
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(stderr.String(), "not in dict") || !strings.Contains(stdout.String(), "Flow run FAILED") {
		t.Fatalf("session: exit %d, stdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	return stdout.String() + stderr.String()
}
