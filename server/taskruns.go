package server

import (
	"container/list"
	"context"
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
// refreshed by what was written since (store.RunTasks).
type followed struct {
	mu    sync.Mutex
	order *list.List // of *store.RunTasks, most recent first
	byID  map[string]*list.Element
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
		e = f.order.PushFront(st.NewRunTasks(id))
		f.byID[id] = e
		if f.order.Len() > maxFollowed {
			last := f.order.Back()
			f.order.Remove(last)
			for k, v := range f.byID {
				if v == last {
					delete(f.byID, k)
				}
			}
		}
	}
	f.mu.Unlock()
	rt := e.Value.(*store.RunTasks)
	return rt, rt.Refresh(ctx)
}

// taskRuns is the run's task runs, read through the followed ones.
func (s *Server) taskRuns(ctx context.Context, id string) ([]store.TaskRun, map[string]int, []store.TaskSummary, error) {
	rt, err := s.followed.get(ctx, s.st, id)
	if err != nil {
		return nil, nil, nil, problem(err)
	}
	runs, index, tasks := rt.Snapshot()
	return runs, index, tasks, nil
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
			var st runtime.State
			if in.State != "" {
				if st, err = store.ParseState(in.State); err != nil {
					return nil, huma.Error422UnprocessableEntity(err.Error())
				}
			}
			runs, index, _, err := s.taskRuns(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			from := 0
			if in.After != "" {
				i, ok := index[in.After]
				if !ok {
					return nil, huma.Error422UnprocessableEntity("after: run " + r.ID + " has no task run " + in.After)
				}
				from = i + 1
			}
			keep := func(t *store.TaskRun) bool {
				return (in.State == "" || t.State == st) &&
					(in.Task == "" || t.Name == in.Task || t.MapIndex >= 0 && t.Task == in.Task)
			}
			page := pageOf(runs, from, max(in.Limit, 0), keep)
			page.Counts = map[string]int{}
			for i := range runs {
				page.Counts[runs[i].State.String()]++
				if keep(&runs[i]) {
					page.Total++
				}
			}
			return &struct{ Body TaskRunPage }{page}, nil
		})

	huma.Register(s.api, op("list-run-tasks", http.MethodGet, "/runs/{id}/tasks", auth.RunsRead,
		"A run's task runs but mapped children, each with its children summed up (the graph's nodes, the timeline)"),
		func(ctx context.Context, in *RunPath) (*struct{ Body TaskList }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			_, _, tasks, err := s.taskRuns(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			out := TaskList{Tasks: orNone(tasks), From: r.StartedAt, To: r.FinishedAt}
			if r.State == runtime.Scheduled || r.StartedAt.Before(time.Unix(1, 0)) {
				out.From = time.Time{}
			} else if out.To.IsZero() {
				out.To = s.opt.Now()
			}
			return &struct{ Body TaskList }{out}, nil
		})
}

// pageOf is up to limit (default 100) of runs from index from on that
// keep keeps, and the cursor of the next page if there are more.
func pageOf(runs []store.TaskRun, from, limit int, keep func(*store.TaskRun) bool) TaskRunPage {
	if limit == 0 {
		limit = 100
	}
	out := TaskRunPage{TaskRuns: []store.TaskRun{}}
	for i := from; i < len(runs); i++ {
		if !keep(&runs[i]) {
			continue
		}
		if len(out.TaskRuns) == limit {
			out.Next = out.TaskRuns[limit-1].Name
			break
		}
		out.TaskRuns = append(out.TaskRuns, runs[i])
	}
	return out
}
