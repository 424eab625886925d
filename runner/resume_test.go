package runner

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// chain is a graph param -> extract -> square (mapped over extract) ->
// total, built as the builtins package builds one.
func chain() *runtime.Graph {
	g := &runtime.Graph{}
	add := func(n *runtime.Node) {
		n.ID = runtime.NodeID(len(g.Nodes))
		g.Nodes = append(g.Nodes, n)
	}
	add(&runtime.Node{Name: "n", Task: "n", Kind: runtime.ParamNode})
	add(&runtime.Node{Name: "extract", Task: "extract", Inputs: []runtime.Input{{From: 0}}})
	add(&runtime.Node{Name: "square", Task: "square", Mapped: true, Inputs: []runtime.Input{{From: 1, Map: true}}})
	add(&runtime.Node{Name: "total", Task: "total", Inputs: []runtime.Input{{From: 2}}})
	return g
}

func tr(name, task string, i int, st runtime.State, result string) store.TaskRun {
	t := store.TaskRun{Name: name, Task: task, MapIndex: i, State: st, Kind: "task"}
	if result != "" {
		t.Result = json.RawMessage(result)
	}
	return t
}

func TestReuse(t *testing.T) {
	okExtract := tr("extract", "extract", -1, runtime.Success, "[1,2]")
	kid0 := tr("square[0]", "square", 0, runtime.Success, "1")
	kid1 := tr("square[1]", "square", 1, runtime.Success, "4")
	badKid1 := tr("square[1]", "square", 1, runtime.Failed, "")
	mapped := tr("square", "square", -1, runtime.Mapped, "")
	mapped.ResultNote = store.NoteChildren
	failedMap := tr("square", "square", -1, runtime.Failed, "")
	failedMap.ResultNote = store.NoteChildren
	tests := []struct {
		name     string
		trs      []store.TaskRun
		whole    []string // nodes taken whole
		children []string // mapped children taken one by one
		result   map[string]string
	}{
		{name: "nothing ran", trs: nil},
		{name: "all succeeded",
			trs:   []store.TaskRun{okExtract, mapped, kid0, kid1, tr("total", "total", -1, runtime.Success, "5")},
			whole: []string{"extract", "square", "total"}, result: map[string]string{"square": "[1, 4]", "total": "5"}},
		{name: "a child failed: the others are taken one by one, nothing after",
			trs:   []store.TaskRun{okExtract, failedMap, kid0, badKid1, tr("total", "total", -1, runtime.TriggerFailed, "")},
			whole: []string{"extract"}, children: []string{"square[0]"}},
		{name: "what depends on a task run again runs again",
			trs:   []store.TaskRun{tr("extract", "extract", -1, runtime.Failed, ""), mapped, kid0, kid1, tr("total", "total", -1, runtime.Success, "5")},
			whole: nil},
		{name: "a result not stored is not taken",
			trs: []store.TaskRun{func() store.TaskRun {
				t := okExtract
				t.Result, t.ResultNote = nil, "too large"
				return t
			}()},
			whole: nil},
		{name: "a result stored as null is None",
			trs:   []store.TaskRun{tr("extract", "extract", -1, runtime.Cached, "")},
			whole: []string{"extract"}, result: map[string]string{"extract": "None"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := chain()
			mocks, children := Reuse(g, tt.trs, "resumed")
			var whole []string
			for id, m := range mocks {
				whole = append(whole, g.Nodes[id].Name)
				if m.State != runtime.Cached || m.Msg != "resumed" {
					t.Errorf("%s: mock %v %q, want Cached \"resumed\"", g.Nodes[id].Name, m.State, m.Msg)
				}
				if want, ok := tt.result[g.Nodes[id].Name]; ok {
					if got := m.Result.(starlark.Value).String(); got != want {
						t.Errorf("%s: result %s, want %s", g.Nodes[id].Name, got, want)
					}
				}
			}
			slices.Sort(whole)
			if !slices.Equal(whole, tt.whole) {
				t.Errorf("taken whole: %v, want %v", whole, tt.whole)
			}
			if got := slices.Sorted(maps.Keys(children)); !slices.Equal(got, tt.children) {
				t.Errorf("children taken: %v, want %v", got, tt.children)
			}
		})
	}
}

func TestResumedCheck(t *testing.T) {
	rs := &Resumed{params: map[string]json.RawMessage{"n": json.RawMessage("2"), "tag": json.RawMessage(`"x"`)},
		context: map[string]string{"today": "2020-01-01"}}
	tests := []struct {
		params map[string]json.RawMessage
		ctx    map[string]string
		want   string // "" for accepted
	}{
		{},
		{params: map[string]json.RawMessage{"n": json.RawMessage("2.0"), "tag": json.RawMessage(`"x"`)}, ctx: map[string]string{"today": "2020-01-01"}},
		{params: map[string]json.RawMessage{"n": json.RawMessage(`"2"`)}, want: `-p n="2" (the run had 2)`},
		{params: map[string]json.RawMessage{"m": json.RawMessage("1")}, want: "-p m=1 (the run had no m)"},
		{ctx: map[string]string{"today": "2020-01-02"}, want: "--context today=2020-01-02 (the run had 2020-01-01)"},
	}
	for _, tt := range tests {
		err := rs.check(tt.params, tt.ctx)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("check(%v, %v): %v, want accepted", tt.params, tt.ctx, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("check(%v, %v): %v, want an error naming %s", tt.params, tt.ctx, err, tt.want)
		}
		var ie *InputError
		if err != nil && !errorsAs(err, &ie) {
			t.Errorf("check: %T, want *InputError", err)
		}
	}
}

func errorsAs(err error, target **InputError) bool {
	ie, ok := err.(*InputError)
	*target = ie
	return ok
}
