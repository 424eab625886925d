package builtins

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

const hookFlow = `
def show(task, task_run, state):
    print("%s %s %s %s run_count=%d map_index=%s id=%s" % (task.name, task_run.name, task_run.task_name,
        state.name, task_run.run_count, task_run.map_index, task_run.id))

def leak(task, task_run, state):
    url = secret("HOOK_URL")
    print("posting to " + url + " at " + context.task_run_id)
    fail("could not post to " + url)

def fshow(flow, flow_run, state):
    print("flow %s %s n=%d %s %s" % (flow.name, flow_run.name, flow_run.parameters["n"], flow_run.id, state.name))

@task(retries=1, on_failure=[show, leak], on_retry=[show], on_success=[show], on_completion=[show])
def bad():
    fail("bad " + str(context.run_count))

@task(on_success=[show])
def sq(x):
    return x * x

@flow(on_failure=[fshow], on_completion=[fshow], on_success=[fshow])
def f(n=2):
    sq.map([1, n])
    bad()
`

func TestStarlarkHooks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.star")
	if err := os.WriteFile(file, []byte(hookFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://hooks.example.invalid/T000/B000/XXXXsecret"
	getenv := func(k string) (string, bool) { return url, k == "HOOK_URL" }
	b, err := m.Flows[0].Build(BuildOptions{RunSettings: RunSettings{RunID: "r1", Getenv: getenv}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &runtimetest.Recorder{}
	res := runtime.Run(context.Background(), b.Graph, runtime.Options{RunID: "r1", Sink: rec, Redactor: b.Redactor()})
	if res.State != runtime.Failed {
		t.Fatalf("flow %s", res.State)
	}
	wantLogs := map[string][]string{
		"bad": {
			"Running on_retry hook show for state Retrying", "bad bad bad Retrying run_count=1 map_index=None id=r1/bad",
			"Running on_failure hook show for state Failed", "bad bad bad Failed run_count=2 map_index=None id=r1/bad",
			"Running on_failure hook leak for state Failed", "posting to " + runtime.Mask + " at r1/bad",
			"on_failure hook leak failed (the state stays Failed): " + file + ":9:9: fail: could not post to " + runtime.Mask,
			"Running on_completion hook show for state Failed", "bad bad bad Failed run_count=2 map_index=None id=r1/bad",
		},
		"sq[1]": {"Running on_success hook show for state Success", "sq sq[1] sq Success run_count=1 map_index=1 id=r1/sq[1]"},
		"": {
			"Running on_failure hook fshow for state Failed", "flow f f n=2 r1 Failed",
			"Running on_completion hook fshow for state Failed", "flow f f n=2 r1 Failed",
		},
	}
	for run, want := range wantLogs {
		var got []string
		for _, l := range rec.Logs(run) {
			if !strings.HasPrefix(l, "Traceback") { // the failing hook's, at debug level
				got = append(got, l)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("log of %q:\n%s\nwant:\n%s", run, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	tracebacks := 0
	for _, e := range rec.Events() {
		if strings.Contains(e.Msg, "XXXXsecret") {
			t.Errorf("secret in %s event: %q", e.Kind, e.Msg)
		}
		if e.Kind == runtime.TaskLog && e.Level == runtime.Debug && strings.Contains(e.Msg, ":9:9: in leak") {
			tracebacks++
		}
	}
	if tracebacks != 1 {
		t.Errorf("%d tracebacks of the failing hook, want 1", tracebacks)
	}
	if got := res.Tasks[b.Graph.Lookup("bad")[0].ID]; got.State != runtime.Failed || got.Msg != file+":16:9: fail: bad 2" {
		t.Errorf("bad: %s %q", got.State, got.Msg)
	}
}
