package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// subflows gives each child flow run of a run (its subflows', and
// theirs) the caller's sink and, with a store, a recorder of its own:
// a child run is a run of the store, with its parent's id.
type subflows struct {
	run  *Run
	sink runtime.Sink // the caller's, without the parent's recorder

	mu   sync.Mutex
	recs map[string]*store.Recorder // by child run id, until it ends
	ends map[string]func() error    // by child run id: its remote recording's end
	from map[string]string          // by run id (the run's, a child run's): the run it resumes
}

func (s *subflows) Begin(ctx context.Context, c *runtime.Call, g *runtime.Graph, opt runtime.Options) (runtime.Options, error) {
	opt.Sink, opt.Limiter = s.sink, nil
	if rc := s.run.children; rc != nil {
		return s.remote(ctx, rc, c, g, opt)
	}
	st := s.run.r.opt.Store
	if st == nil || s.run.hooks.rec == nil {
		return opt, nil
	}
	info := s.run.hooks.info
	info.ID, info.Flow, info.Parent, info.ParentTaskRun = opt.RunID, g.Flow, c.RunID, c.TaskRun
	info.Parameters, info.ResumedFrom, info.Scheduled, info.Claimed = s.params(g, opt.Params), "", store.Scheduled{}, false
	// A run that resumes another resumes its child runs too: a subflow
	// that runs again (it did not succeed) takes what succeeded in its
	// child run of the resumed run.
	prev, mocks, kids := s.resume(ctx, c, g)
	if prev != "" {
		info.ResumedFrom, opt.Mocks = prev, mocks
		s.mu.Lock()
		s.from[opt.RunID] = prev
		s.mu.Unlock()
	}
	rec := st.opening.NewRecorder(store.RecorderOptions{Run: info, Graph: g, AppendResult: s.run.Build.AppendResult})
	st.mu.Lock()
	st.recs = append(st.recs, rec)
	st.mu.Unlock()
	s.mu.Lock()
	s.recs[opt.RunID] = rec
	s.mu.Unlock()
	opt.Sink = runtime.Tee(s.sink, rec)
	// The task cache (@task(cache_for=...)) serves a child run's tasks as
	// a run's of the child flow, and the mapped children it resumes.
	opt.Cache = &taskCache{s: st, rec: rec, build: s.run.Build, runID: opt.RunID, pending: map[string]pendingKey{}, resumed: kids}
	if hasTags(g) {
		opt.Limiter = &limiter{s: st, l: store.Limiter{RunID: opt.RunID, Flow: g.Limits, Lease: st.SlotLease}}
	}
	return opt, nil
}

// resume finds, when the run of c resumes another, that run's child run
// for c's task run, and what of it the child run about to start takes
// (Reuse); prev is "" when there is none, or its graph changed (the
// child then runs whole, as a log line says).
func (s *subflows) resume(ctx context.Context, c *runtime.Call, g *runtime.Graph) (prev string, mocks map[runtime.NodeID]runtime.Mock, kids map[string]runtime.Mock) {
	from := s.resumes(c.RunID)
	if from == "" {
		return "", nil, nil
	}
	st, err := s.run.r.opt.Store.Open()
	if err != nil {
		return "", nil, nil
	}
	runs, err := st.ChildRuns(ctx, from)
	if err != nil {
		c.Log(runtime.Warning, fmt.Sprintf("resume: the child runs of run %s: %v; this one runs whole", from, err))
		return "", nil, nil
	}
	var was *store.Run
	for i := range runs {
		if runs[i].ParentTaskRun == c.TaskRun {
			was = &runs[i]
		}
	}
	if was == nil {
		return "", nil, nil
	}
	dag, err := st.RunDAG(ctx, was.ID)
	var trs []store.TaskRun
	if err == nil {
		trs, err = st.TaskRuns(ctx, was.ID)
	}
	return reuseChild(c, g, from, was.ID, dag, trs, err)
}

// resumes is the run that run id (the run, or one of its child runs)
// resumes, "" if none.
func (s *subflows) resumes(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.from[id]
}

// reuseChild is what the child run about to start for c takes from
// child run was of run from (the run c's run resumes), whose graph was
// dag and task runs trs (Reuse). With err, or a graph that changed, it
// takes nothing: the child runs whole, as a log line says.
func reuseChild(c *runtime.Call, g *runtime.Graph, from, was string, dag store.DAG, trs []store.TaskRun, err error) (string, map[runtime.NodeID]runtime.Mock, map[string]runtime.Mock) {
	if err == nil {
		if d := store.Diff(dag, store.DAGOf(g)); len(d) > 0 {
			err = fmt.Errorf("its flow's graph has changed: %s", strings.Join(d, "; "))
		}
	}
	if err != nil {
		c.Log(runtime.Warning, fmt.Sprintf("resume: child run %s of run %s is not resumed (%v); this one runs whole", was, from, err))
		return "", nil, nil
	}
	mocks, kids := Reuse(g, trs, "resumed: result of run "+was)
	return was, mocks, kids
}

// remote is Begin for a run whose children are made elsewhere (a
// server): the child run is made there before it starts, and recorded
// there; its tagged task runs take their slots there. A run that
// resumes another resumes its child runs as the local store's do, with
// the resumed run's child run read from there.
func (s *subflows) remote(ctx context.Context, rc RemoteChildren, c *runtime.Call, g *runtime.Graph, opt runtime.Options) (runtime.Options, error) {
	var prev string
	var mocks map[runtime.NodeID]runtime.Mock
	var kids map[string]runtime.Mock
	if from := s.resumes(c.RunID); from != "" {
		rs, err := rc.Resumed(ctx, c.RunID, c.TaskRun)
		switch {
		case err != nil:
			c.Log(runtime.Warning, fmt.Sprintf("resume: the child run of run %s for %s: %v; this one runs whole", from, c.TaskRun, err))
		case rs == nil:
		case len(rs.dag) == 0:
			reuseChild(c, g, from, rs.run.ID, nil, nil, fmt.Errorf("it never started"))
		default:
			prev, mocks, kids = reuseChild(c, g, from, rs.run.ID, rs.dag, rs.trs, nil)
		}
	}
	sink, end, err := rc.Begin(ctx, ChildRun{ID: opt.RunID, Parent: c.RunID, TaskRun: c.TaskRun, ResumedFrom: prev,
		Graph: g, Params: s.params(g, opt.Params)}, s.run.Build.AppendResult)
	if err != nil {
		return opt, err
	}
	s.mu.Lock()
	s.ends[opt.RunID] = end
	if prev != "" {
		s.from[opt.RunID] = prev
	}
	s.mu.Unlock()
	opt.Sink = runtime.Tee(s.sink, sink)
	if prev != "" {
		opt.Mocks = mocks
		if len(kids) > 0 {
			opt.Cache = resumedCache(kids)
		}
	}
	if hasTags(g) {
		opt.Limiter = &store.Limiter{Slots: rc.Slots(opt.RunID), RunID: opt.RunID, Flow: g.Limits, Lease: s.run.lease}
	}
	return opt, nil
}

func (s *subflows) End(c *runtime.Call, res *runtime.Result) {
	s.mu.Lock()
	rec, end := s.recs[res.RunID], s.ends[res.RunID]
	delete(s.recs, res.RunID)
	delete(s.ends, res.RunID)
	delete(s.from, res.RunID)
	s.mu.Unlock()
	if rec != nil {
		s.run.r.opt.Store.finish(hooks{rec: rec})
	}
	if end != nil {
		if err := end(); err != nil {
			c.Log(runtime.Warning, fmt.Sprintf("child flow run %s: its record on the server is incomplete: %v", res.RunID, err))
		}
	}
}

// params is the JSON object of a child run's parameters, as the store
// keeps a run's: a value without a JSON form is kept as its string.
func (s *subflows) params(g *runtime.Graph, vals []runtime.Value) json.RawMessage {
	obj := make(map[string]json.RawMessage, len(vals))
	for i, id := range g.Params {
		if i >= len(vals) {
			break
		}
		b, err := s.run.Build.AppendResult(nil, vals[i])
		if err != nil {
			b, _ = json.Marshal("<not stored: " + err.Error() + ">")
		}
		obj[g.Nodes[id].Task] = b
	}
	out, _ := json.Marshal(obj)
	return out
}
