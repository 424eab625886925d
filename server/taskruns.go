package server

import (
	"container/list"
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// TaskRunPage is a page of a run's task runs, in the order they started
// (a mapped task's children together, by index). Next, when set, is the
// cursor of the next page; Total counts the task runs the filter
// selects, Counts all the run's task runs by state.
type TaskRunPage struct {
	TaskRuns []store.TaskRun `json:"task_runs"`
	Next     string          `json:"next,omitempty"`
	Total    int             `json:"total"`
	Counts   map[string]int  `json:"counts"`
}

// TaskList is a run's task runs that are not mapped children, each with
// its children summed up: the graph's nodes, the timeline's bars. From
// and To are the times the timeline spans (To: now while the run goes).
type TaskList struct {
	Tasks []store.TaskSummary `json:"tasks"`
	From  time.Time           `json:"from,omitzero"`
	To    time.Time           `json:"to,omitzero"`
}

// maxFollowed is how many runs' task runs a server keeps read (the runs
// whose pages are open); the least recently asked for goes first.
const maxFollowed = 16

// followed keeps the task runs of the runs last asked for, each
// refreshed by what was written since (store.RunTasks): when its page
// asks, and in the background after each write the server takes for
// it, so that a page's request finds them read (a write of W2 holds
// thousands of task runs to decode; a page that read them all when it
// asked would wait for them, and ask less and less often).
type followed struct {
	mu    sync.Mutex
	order *list.List // of *followedRun, most recent first
	byID  map[string]*list.Element
}

// followedRun is a run followed: busy while a background refresh runs,
// again when a write came during it.
type followedRun struct {
	id          string
	rt          *store.RunTasks
	busy, again bool
}

func newFollowed() *followed {
	return &followed{order: list.New(), byID: map[string]*list.Element{}}
}

// get is the followed task runs of run id, refreshed.
func (f *followed) get(ctx context.Context, st *store.Store, id string) (*store.RunTasks, error) {
	f.mu.Lock()
	e, ok := f.byID[id]
	if ok {
		f.order.MoveToFront(e)
	} else {
		e = f.order.PushFront(&followedRun{id: id, rt: st.NewRunTasks(id)})
		f.byID[id] = e
		if f.order.Len() > maxFollowed {
			last := f.order.Remove(f.order.Back()).(*followedRun)
			delete(f.byID, last.id)
		}
	}
	f.mu.Unlock()
	rt := e.Value.(*followedRun).rt
	return rt, rt.Refresh(ctx)
}

// poke refreshes run id's task runs in the background if they are
// followed: one refresh at a time, and once more after it if writes
// came meanwhile. Its errors are left to the next request's refresh.
func (f *followed) poke(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.byID[id]
	if !ok {
		return
	}
	fr := e.Value.(*followedRun)
	if fr.busy {
		fr.again = true
		return
	}
	fr.busy = true
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			fr.rt.Refresh(ctx)
			cancel()
			f.mu.Lock()
			again := fr.again
			fr.busy, fr.again = again, false
			f.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// runTasks is the run's task runs, followed and refreshed.
func (s *Server) runTasks(ctx context.Context, id string) (*store.RunTasks, error) {
	rt, err := s.followed.get(ctx, s.st, id)
	if err != nil {
		return nil, problem(err)
	}
	return rt, nil
}

func (s *Server) taskRunRoutes() {
	huma.Register(s.api, op("list-task-runs", http.MethodGet, "/runs/{id}/task-runs", auth.RunsRead,
		"A page of a run's task runs, in the order they started"),
		func(ctx context.Context, in *struct {
			RunPath
			State string `query:"state" doc:"only task runs in this state"`
			Task  string `query:"task" doc:"only this task run and its mapped children"`
			Limit int    `query:"limit" minimum:"0" maximum:"1000" doc:"at most this many (default 100)"`
			After string `query:"after" doc:"the cursor of the previous page (its last task run's name)"`
		}) (*struct{ Body TaskRunPage }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			q := store.TaskRunQuery{Task: in.Task, After: in.After, Limit: max(in.Limit, 0)}
			if in.State != "" {
				if q.State, err = store.ParseState(in.State); err != nil {
					return nil, huma.Error422UnprocessableEntity(err.Error())
				}
				q.HasState = true
			}
			rt, err := s.runTasks(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			p, err := rt.Page(q)
			if errors.Is(err, store.ErrNoTaskRun) {
				return nil, huma.Error422UnprocessableEntity("after: run " + r.ID + " has no task run " + in.After)
			}
			if err != nil {
				return nil, problem(err)
			}
			page := TaskRunPage{TaskRuns: p.TaskRuns, Next: p.Next, Total: p.Total, Counts: p.Counts}
			return &struct{ Body TaskRunPage }{page}, nil
		})

	huma.Register(s.api, op("list-run-tasks", http.MethodGet, "/runs/{id}/tasks", auth.RunsRead,
		"A run's task runs but mapped children, each with its children summed up (the graph's nodes, the timeline)"),
		func(ctx context.Context, in *RunPath) (*struct{ Body TaskList }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			rt, err := s.runTasks(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			out := TaskList{Tasks: orNone(rt.Tasks()), From: r.StartedAt, To: r.FinishedAt}
			if r.State == runtime.Scheduled || r.StartedAt.Before(time.Unix(1, 0)) {
				out.From = time.Time{}
			} else if out.To.IsZero() {
				out.To = s.opt.Now()
			}
			return &struct{ Body TaskList }{out}, nil
		})
}
