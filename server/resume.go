package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// Resumption is what the holder of a run that resumes another needs to
// reuse that run's work (SPEC §2's resume): the resumed run, the graph it
// was recorded with, and its task runs with their results. The new run's
// process gives them to runner.Reuse, which takes the task runs that
// succeeded instead of running them again.
type Resumption struct {
	Run      store.Run       `json:"run"`
	DAG      []DAGNode       `json:"dag"`
	TaskRuns []store.TaskRun `json:"task_runs"`
}

// StoreDAG is d as the store keeps it, for runner.Reuse's comparison.
func StoreDAG(d []DAGNode) store.DAG {
	out := make(store.DAG, len(d))
	for i, n := range d {
		out[i] = store.DAGNode{Name: n.Name, Task: n.Task, Kind: n.Kind, Mapped: n.Mapped, Inputs: n.Inputs, Upstream: n.Upstream, Guards: n.Guards}
	}
	return out
}

func apiDAG(d store.DAG) []DAGNode {
	out := make([]DAGNode, len(d))
	for i, n := range d {
		out[i] = DAGNode{Name: n.Name, Task: n.Task, Kind: n.Kind, Mapped: n.Mapped, Inputs: n.Inputs, Upstream: n.Upstream, Guards: n.Guards}
	}
	return out
}

func (s *Server) resumeRoutes() {
	huma.Register(s.api, op("resume-run", http.MethodPost, "/runs/{id}/resume", auth.RunsCreate,
		"Resume a run that ended Failed, Cancelled or Crashed: a new run of its deployment, with its parameters and bundle, that reuses the task runs that succeeded in it"),
		func(ctx context.Context, in *RunPath) (*struct {
			Status int
			Body   store.Run
		}, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			nr, err := s.st.ResumeRun(ctx, r.ID, runtime.NewRunID(), s.opt.Now())
			if err != nil {
				return nil, problem(err)
			}
			s.changed(ctx)
			return &struct {
				Status int
				Body   store.Run
			}{http.StatusCreated, nr}, nil
		})

	huma.Register(s.api, op("run-resumed", http.MethodGet, "/runs/{id}/resumed", auth.RunsResumed,
		"The graph and task runs (with results) of the run that run {id} resumes (its holder)"),
		func(ctx context.Context, in *struct {
			RunPath
			Worker  string `query:"worker" required:"true" doc:"the worker holding run {id}"`
			TaskRun string `query:"task_run" maxLength:"512" doc:"a subflow's task run in run {id}: the child run for it of the run that run {id} resumes, instead of that run"`
		}) (*struct{ Body Resumption }, error) {
			r, err := s.heldRun(ctx, in.ID, in.Worker)
			if err != nil {
				return nil, err
			}
			if r.ResumedFrom == "" {
				return nil, huma.Error404NotFound("run " + r.ID + " resumes no run")
			}
			var old store.Run
			if in.TaskRun == "" {
				old, err = s.st.GetRun(ctx, r.ResumedFrom)
			} else {
				old, err = s.resumedChild(ctx, r.ResumedFrom, in.TaskRun)
			}
			if err != nil {
				return nil, problem(err)
			}
			d, err := s.st.RunDAG(ctx, old.ID)
			if err != nil && !errors.Is(err, store.ErrNoDAG) {
				return nil, problem(err)
			}
			trs, err := s.st.TaskRuns(ctx, old.ID)
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body Resumption }{Resumption{Run: old, DAG: apiDAG(d), TaskRuns: orNone(trs)}}, nil
		})
}

// resumedChild is run from's child run for its subflow task run
// taskRun: the last made, when its subflow ran more than once (retries).
func (s *Server) resumedChild(ctx context.Context, from, taskRun string) (store.Run, error) {
	kids, err := s.st.ChildRuns(ctx, from)
	if err != nil {
		return store.Run{}, err
	}
	for i := len(kids) - 1; i >= 0; i-- {
		if kids[i].ParentTaskRun == taskRun {
			return kids[i], nil
		}
	}
	return store.Run{}, fmt.Errorf("%w: run %s has no child run for task run %q", store.ErrNotFound, from, taskRun)
}
