package builtins

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

const subflowHookFlow = `
def fshow(flow, flow_run, state):
    print("flow %s day=%s %s" % (flow.name, flow_run.parameters["day"], state.name))

@task
def check(day):
    if day == "bad":
        fail("bad day")
    return context.parameters["day"]

@flow(on_completion=[fshow], on_failure=[fshow])
def daily(day, scale=1):
    return check(day)

@task
def days():
    return ["ok", "bad"]

def mshow(flow, flow_run, state):
    print("flow %s %s" % (flow.name, state.name))

@flow(on_completion=[mshow])
def month():
    daily.map(days())
`

// TestSubflowHooks runs a subflow mapped over two days: each child flow
// run calls its flow's hooks once per state, with its own parameters, in
// its own log, and its tasks see those parameters in context.
func TestSubflowHooks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f.star")
	if err := os.WriteFile(file, []byte(subflowHookFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.FindFlow("")
	if err != nil || f.Name() != "month" {
		t.Fatalf("the flow to run: %v, %v; want month, the one no other calls", f, err)
	}
	b, err := f.Build(BuildOptions{RunSettings: RunSettings{RunID: "r1"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &runtimetest.Recorder{}
	res := runtime.Run(context.Background(), b.Graph, runtime.Options{RunID: "r1", Sink: rec, Redactor: b.Redactor()})
	if res.State != runtime.Failed {
		t.Fatalf("flow %s", res.State)
	}
	logs := map[string][]string{} // flow logs by run id
	for _, e := range rec.Events() {
		if e.Kind == runtime.TaskLog && e.TaskRun == "" {
			logs[e.RunID] = append(logs[e.RunID], e.Msg)
		}
	}
	kids := res.Tasks[b.Graph.Lookup("daily")[0].ID].Children
	want := map[string][]string{
		kids[0].Sub.RunID: {"Running on_completion hook fshow for state Success", "flow daily day=ok Success"},
		kids[1].Sub.RunID: {"Running on_failure hook fshow for state Failed", "flow daily day=bad Failed",
			"Running on_completion hook fshow for state Failed", "flow daily day=bad Failed"},
		"r1": {"Running on_completion hook mshow for state Failed", "flow month Failed"},
	}
	for id, w := range want {
		if !slices.Equal(logs[id], w) {
			t.Errorf("flow log of run %s: %q, want %q", id, logs[id], w)
		}
	}
	if got := kids[0].Sub.Value; got == nil || got.(interface{ String() string }).String() != `"ok"` {
		t.Errorf("check's context.parameters day in the first child: %v", got)
	}
	if len(logs) != 3 {
		t.Errorf("flow logs of %d runs, want 3 (the parent and two children)", len(logs))
	}
}
