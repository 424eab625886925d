package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// Resumed is a recorded run that a new run resumes (`wfsh run --resume
// RUN`): the new run gets its flow, parameters and context, and reuses
// the task runs that succeeded in it.
type Resumed struct {
	run     store.Run
	params  map[string]json.RawMessage
	context map[string]string
	// remote: the run is a server's, read through the API with its
	// graph and task runs (ResumedOf), not from the local store.
	remote bool
	dag    store.DAG
	trs    []store.TaskRun
}

// Flow is the name of the resumed run's flow.
func (rs *Resumed) Flow() string { return rs.run.Flow }

// ID is the resumed run's id.
func (rs *Resumed) ID() string { return rs.run.ID }

// Resumed reads the run that id names (an id or a unique prefix) for a
// run that resumes it. The run must have ended.
func (r *Runner) Resumed(ctx context.Context, id string) (*Resumed, error) {
	if r.opt.Store == nil {
		return nil, &InputError{fmt.Errorf("--resume reads the run store: drop --no-store")}
	}
	st, err := r.opt.Store.Open()
	if err != nil {
		return nil, err
	}
	run, err := st.GetRun(ctx, id)
	if err != nil {
		return nil, &InputError{fmt.Errorf("--resume: %w", err)}
	}
	if !run.State.Finished() {
		return nil, &InputError{fmt.Errorf("--resume: run %s is still %s (wfsh pid %d): wait for it to end, or stop it",
			ShortID(run.ID), run.State, run.PID)}
	}
	if err := host.RefuseLeftovers(run.PID, run.StartedAt); err != nil {
		return nil, &InputError{fmt.Errorf("--resume %s: %w", ShortID(run.ID), err)}
	}
	return resumed(run)
}

func resumed(run store.Run) (*Resumed, error) {
	rs := &Resumed{run: run}
	if err := json.Unmarshal(run.Parameters, &rs.params); err != nil {
		return nil, fmt.Errorf("run %s: stored parameters: %w", ShortID(run.ID), err)
	}
	if err := json.Unmarshal(run.Context, &rs.context); err != nil {
		return nil, fmt.Errorf("run %s: stored context: %w", ShortID(run.ID), err)
	}
	return rs, nil
}

// ResumedOf is a server's run that a run of the same server resumes, as
// the new run's holder reads it through the API (GET /runs/{id}/resumed):
// the run, the graph it was recorded with (empty when it never started)
// and its task runs with their results.
func ResumedOf(run store.Run, dag store.DAG, trs []store.TaskRun) (*Resumed, error) {
	rs, err := resumed(run)
	if err != nil {
		return nil, err
	}
	rs.remote, rs.dag, rs.trs = true, dag, trs
	return rs, nil
}

// check refuses parameters and context given to a resuming run that
// differ from the resumed run's; equal ones are fine.
func (rs *Resumed) check(params map[string]json.RawMessage, ctxKV map[string]string) error {
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		was, ok := rs.params[k]
		switch {
		case !ok:
			diff = append(diff, fmt.Sprintf("-p %s=%s (the run had no %s)", k, params[k], k))
		case !sameJSON(was, params[k]):
			diff = append(diff, fmt.Sprintf("-p %s=%s (the run had %s)", k, params[k], was))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ctxKV)) {
		was, ok := rs.context[k]
		switch {
		case !ok:
			diff = append(diff, fmt.Sprintf("--context %s=%s (the run had no %s)", k, ctxKV[k], k))
		case was != ctxKV[k]:
			diff = append(diff, fmt.Sprintf("--context %s=%s (the run had %s)", k, ctxKV[k], was))
		}
	}
	if len(diff) > 0 {
		return &InputError{fmt.Errorf("--resume runs with the parameters and context of the run it resumes; these differ: %s (drop them, or run anew without --resume)",
			strings.Join(diff, ", "))}
	}
	return nil
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(x, y)
}

// reuse decides what the resuming run takes from the run it resumes. The
// graph must still have the shape it had (the same task runs, with the
// same tasks and edges): task bodies may have changed, not the wiring.
// A task run is taken, not run again, when it succeeded (Success, Cached
// or Mapped), its result is stored, and every task run it depends on is
// taken too: what runs again makes its dependents run again. The mapped
// children that succeeded are taken one by one when their task was not
// taken whole.
// The graph and task runs of a server's run come with it (ResumedOf);
// a server's run that never started has no graph, and nothing to take.
func (s *Store) reuse(ctx context.Context, from *Resumed, b *builtins.Build) (map[runtime.NodeID]runtime.Mock, map[string]runtime.Mock, error) {
	was, trs := from.dag, from.trs
	if from.remote && len(was) == 0 {
		return nil, nil, nil
	}
	if !from.remote {
		st, err := s.Open()
		if err != nil {
			return nil, nil, err
		}
		if was, err = st.RunDAG(ctx, from.run.ID); err != nil {
			return nil, nil, err
		}
		if trs, err = st.TaskRuns(ctx, from.run.ID); err != nil {
			return nil, nil, err
		}
	}
	if d := store.Diff(was, store.DAGOf(b.Graph)); len(d) > 0 {
		return nil, nil, &InputError{fmt.Errorf("--resume %s: the flow's graph has changed since that run, so its results cannot be reused:\n  %s\n(run it anew without --resume)",
			from.run.ID, strings.Join(d, "\n  "))}
	}
	mocks, children := Reuse(b.Graph, trs, "resumed: result of run "+from.run.ID)
	return mocks, children, nil
}

// resumedCache is the runtime.Cache of a run without a local store (a
// server's run) that resumes another: the mapped children it takes.
type resumedCache map[string]runtime.Mock

func (c resumedCache) Lookup(ctx context.Context, call *runtime.Call) (runtime.Value, string, bool) {
	m, ok := c[call.TaskRun]
	return m.Result, m.Msg, ok
}

func (resumedCache) Store(*runtime.Call, runtime.Value) {}

// Reuse decides, for a graph of the same shape as the run whose task runs
// are trs, which nodes are taken whole (mocks, by node) and which mapped
// children one by one (by task run name); msg is each one's message.
func Reuse(g *runtime.Graph, trs []store.TaskRun, msg string) (map[runtime.NodeID]runtime.Mock, map[string]runtime.Mock) {
	old := map[string]*store.TaskRun{}
	kidsOf := map[string][]*store.TaskRun{} // mapped children by task run, by index
	for i := range trs {
		old[trs[i].Name] = &trs[i]
		if trs[i].MapIndex >= 0 {
			kidsOf[trs[i].Task] = append(kidsOf[trs[i].Task], &trs[i])
		}
	}
	take := func(tr *store.TaskRun) (runtime.Mock, bool) { return taken(tr, msg) }
	isTaken := make([]bool, len(g.Nodes))
	mocks := map[runtime.NodeID]runtime.Mock{}
	children := map[string]runtime.Mock{}
	for _, n := range g.TopoOrder() {
		depsTaken := true
		for _, d := range g.Deps(n) {
			depsTaken = depsTaken && isTaken[d]
		}
		switch {
		case n.Kind == runtime.ParamNode:
			isTaken[n.ID] = true // the same values
		case !depsTaken:
		case n.Kind == runtime.ConstNode:
			isTaken[n.ID] = true // made again from what was taken
		default:
			if m, ok := take(old[n.Name]); ok {
				mocks[n.ID], isTaken[n.ID] = m, true
				continue
			}
			if !n.Mapped {
				continue
			}
			if m, whole := reuseMapped(old[n.Name], kidsOf[n.Name], msg, children); whole {
				mocks[n.ID], isTaken[n.ID] = m, true
			}
		}
	}
	return mocks, children
}

// reuseMapped takes a mapped task's children that succeeded. A mapped
// task that succeeded is taken whole when each of its children's results
// is: its own is the list of theirs. Otherwise the children taken go to
// children.
func reuseMapped(tr *store.TaskRun, kidRuns []*store.TaskRun, msg string, children map[string]runtime.Mock) (runtime.Mock, bool) {
	kids := map[string]runtime.Mock{}
	var vals []starlark.Value
	for _, k := range kidRuns {
		if m, ok := taken(k, msg); ok {
			kids[k.Name] = m
			if k.MapIndex == len(vals) {
				vals = append(vals, m.Result.(starlark.Value))
			}
		}
	}
	if tr != nil && tr.State == runtime.Mapped && tr.ResultNote == store.NoteChildren &&
		len(vals) == len(kids) && len(vals) == len(kidRuns) {
		l := starlark.NewList(vals)
		l.Freeze()
		return runtime.Mock{State: runtime.Cached, Msg: msg, Result: l}, true
	}
	maps.Copy(children, kids)
	return runtime.Mock{}, false
}

// taken is tr's result as a mock, when tr succeeded and its result is
// stored. A result stored as null is None; one not stored has a note.
func taken(tr *store.TaskRun, msg string) (runtime.Mock, bool) {
	if tr == nil || !(tr.State == runtime.Success || tr.State == runtime.Cached || tr.State == runtime.Mapped) ||
		tr.ResultNote != "" {
		return runtime.Mock{}, false
	}
	var v runtime.Value = starlark.None
	if tr.Result != nil {
		var err error
		if v, err = builtins.DecodeResult(tr.Result); err != nil {
			return runtime.Mock{}, false
		}
	}
	return runtime.Mock{State: runtime.Cached, Msg: msg, Result: v}, true
}

// ShortID is as much of a run id as a person types: 8 hex digits.
func ShortID(id string) string { return id[:min(len(id), 8)] }
