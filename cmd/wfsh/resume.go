package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// resumeSettings reads, for --resume RUN, the run to resume: the new run
// gets its flow, parameters and context.
func (rs *runStore) resumeSettings(ctx context.Context, f *runFlags, params *map[string]starlark.Value, ctxKV *map[string]string) error {
	if f.resume == "" {
		return nil
	}
	if rs == nil {
		return badInput(fmt.Errorf("--resume reads the run store: drop --no-store"))
	}
	if len(f.params) > 0 || len(f.context) > 0 {
		return badInput(fmt.Errorf("--resume runs with the parameters and context of the run it resumes: drop -p and --context"))
	}
	st, err := rs.open()
	if err != nil {
		return err
	}
	run, err := st.GetRun(ctx, f.resume)
	if err != nil {
		return badInput(fmt.Errorf("--resume: %w", err))
	}
	if !run.State.Finished() {
		return badInput(fmt.Errorf("--resume: run %s is still %s (wfsh pid %d): wait for it to end, or stop it", shortID(run.ID), run.State, run.PID))
	}
	if err := host.RefuseLeftovers(run.PID, run.StartedAt); err != nil {
		return badInput(fmt.Errorf("--resume %s: %w", shortID(run.ID), err))
	}
	if f.flow == "" {
		f.flow = run.Flow
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(run.Parameters, &raw); err != nil {
		return fmt.Errorf("run %s: stored parameters: %w", shortID(run.ID), err)
	}
	*params = map[string]starlark.Value{}
	for k, v := range raw {
		(*params)[k] = paramValue(string(v))
	}
	*ctxKV = map[string]string{}
	if err := json.Unmarshal(run.Context, ctxKV); err != nil {
		return fmt.Errorf("run %s: stored context: %w", shortID(run.ID), err)
	}
	rs.from = &run
	return nil
}

// reuse decides what the resumed run takes from the run it resumes. The
// graph must still have the shape it had (the same task runs, with the
// same tasks and edges): task bodies may have changed, not the wiring.
// A task run is taken, not run again, when it succeeded (Success, Cached
// or Mapped), its result is stored, and every task run it depends on is
// taken too: what runs again makes its dependents run again. The mapped
// children that succeeded are taken one by one when their task was not
// taken whole.
func (rs *runStore) reuse(ctx context.Context, b *builtins.Build) (map[runtime.NodeID]runtime.Mock, map[string]runtime.Mock, error) {
	st, err := rs.open()
	if err != nil {
		return nil, nil, err
	}
	from := rs.from
	was, err := st.RunDAG(ctx, from.ID)
	if err != nil {
		return nil, nil, err
	}
	if d := store.Diff(was, store.DAGOf(b.Graph)); len(d) > 0 {
		return nil, nil, badInput(fmt.Errorf("--resume %s: the flow's graph has changed since that run, so its results cannot be reused:\n  %s\n(run it anew without --resume)",
			from.ID, strings.Join(d, "\n  ")))
	}
	trs, err := st.TaskRuns(ctx, from.ID)
	if err != nil {
		return nil, nil, err
	}
	old := map[string]*store.TaskRun{}
	kidsOf := map[string][]*store.TaskRun{} // mapped children by task run, by index
	for i := range trs {
		old[trs[i].Name] = &trs[i]
		if trs[i].MapIndex >= 0 {
			kidsOf[trs[i].Task] = append(kidsOf[trs[i].Task], &trs[i])
		}
	}
	msg := "resumed: result of run " + from.ID
	take := func(tr *store.TaskRun) (runtime.Mock, bool) {
		// A result stored as null is None; one not stored has a note.
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
	g := b.Graph
	taken := make([]bool, len(g.Nodes))
	mocks := map[runtime.NodeID]runtime.Mock{}
	children := map[string]runtime.Mock{}
	for _, n := range topoOrder(g) {
		depsTaken := true
		for _, d := range g.Deps(n) {
			depsTaken = depsTaken && taken[d]
		}
		switch {
		case n.Kind == runtime.ParamNode:
			taken[n.ID] = true // the same values
		case !depsTaken:
		case n.Kind == runtime.ConstNode:
			taken[n.ID] = true // made again from what was taken
		default:
			if m, ok := take(old[n.Name]); ok {
				mocks[n.ID], taken[n.ID] = m, true
				continue
			}
			if !n.Mapped {
				continue
			}
			kids := map[string]runtime.Mock{}
			var vals []starlark.Value
			for _, tr := range kidsOf[n.Name] {
				if m, ok := take(tr); ok {
					kids[tr.Name] = m
					if tr.MapIndex == len(vals) {
						vals = append(vals, m.Result.(starlark.Value))
					}
				}
			}
			// A mapped task that succeeded is taken whole when each of its
			// children's results is: its own is the list of theirs.
			if tr := old[n.Name]; tr != nil && tr.State == runtime.Mapped && tr.ResultNote == store.NoteChildren &&
				len(vals) == len(kids) && len(vals) == len(kidsOf[n.Name]) {
				l := starlark.NewList(vals)
				l.Freeze()
				mocks[n.ID], taken[n.ID] = runtime.Mock{State: runtime.Cached, Msg: msg, Result: l}, true
				continue
			}
			maps.Copy(children, kids)
		}
	}
	return mocks, children, nil
}

// topoOrder lists g's nodes so that each comes after what it depends on.
func topoOrder(g *runtime.Graph) []*runtime.Node {
	out := make([]*runtime.Node, 0, len(g.Nodes))
	state := make([]uint8, len(g.Nodes))
	var visit func(n *runtime.Node)
	visit = func(n *runtime.Node) {
		if state[n.ID] != 0 {
			return
		}
		state[n.ID] = 1
		for _, d := range g.Deps(n) {
			visit(g.Nodes[d])
		}
		out = append(out, n)
	}
	for _, n := range g.Nodes {
		visit(n)
	}
	return out
}
