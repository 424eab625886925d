package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// op is an operation of the API under /api/v1 that needs action.
func op(id, method, path string, action auth.Action, summary string) huma.Operation {
	o := huma.Operation{OperationID: id, Method: method, Path: "/api/v1" + path, Summary: summary,
		Metadata: map[string]any{"action": action}, DefaultStatus: answers[id]}
	if action != "" {
		o.Security = []map[string][]string{{"bearer": {}}}
	}
	return o
}

// answers are the operations whose success is not 200, as the document
// says: 201 Created, 204 No Content (TestOpenAPIDocument checks real
// answers against the document).
var answers = map[string]int{
	"create-run": http.StatusCreated, "create-child-run": http.StatusCreated, "resume-run": http.StatusCreated, "create-token": http.StatusCreated,
	"revoke-token": http.StatusNoContent, "put-secret": http.StatusNoContent, "delete-secret": http.StatusNoContent,
	"delete-deployment": http.StatusNoContent, "write-run": http.StatusNoContent, "crash-run": http.StatusNoContent,
	"put-pool": http.StatusNoContent, "pause-pool": http.StatusNoContent, "resume-pool": http.StatusNoContent,
	"put-limit": http.StatusNoContent, "delete-limit": http.StatusNoContent,
	"keep-slots": http.StatusNoContent, "free-slots": http.StatusNoContent,
	"create-session": http.StatusCreated, "delete-session": http.StatusNoContent,
}

func (s *Server) routes() {
	s.api.OpenAPI().Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer"},
	}
	s.runRoutes()
	s.resumeRoutes()
	s.taskRunRoutes()
	s.historyRoutes()
	s.dagRoutes()
	s.logTextRoutes()
	s.whoamiRoutes()
	s.sessionRoutes()
	s.deploymentRoutes()
	s.workerRoutes()
	s.slotRoutes()
	s.adminRoutes()
}

// RunList is a page of runs; Next, when set, is the cursor of the next.
type RunList struct {
	Runs []store.Run `json:"runs"`
	Next string      `json:"next,omitempty"`
}

// RunDetail is a run with its task runs.
type RunDetail struct {
	Run      store.Run       `json:"run"`
	TaskRuns []store.TaskRun `json:"task_runs"`
}

// RunPath names a run in a path.
type RunPath struct {
	ID string `path:"id" doc:"a run id, or a prefix of one that only it has"`
}

func (s *Server) runRoutes() {
	huma.Register(s.api, op("list-runs", http.MethodGet, "/runs", auth.RunsRead, "List runs, newest first"),
		func(ctx context.Context, in *struct {
			RunsQuery
			Limit int    `query:"limit" minimum:"0" maximum:"1000" doc:"at most this many (default 100)"`
			After string `query:"after" doc:"the cursor of the previous page (its last run's id)"`
		}) (*struct{ Body RunList }, error) {
			f, err := s.runFilter(ctx, in.RunsQuery)
			if err != nil {
				return nil, err
			}
			f.Limit = in.Limit
			if in.After != "" {
				r, err := s.st.GetRun(ctx, in.After)
				if err != nil {
					return nil, huma.Error422UnprocessableEntity("after: " + err.Error())
				}
				f.After = &r
			}
			runs, err := s.st.ListServerRuns(ctx, f)
			if err != nil {
				return nil, problem(err)
			}
			out := RunList{Runs: orNone(runs)}
			if lim := max(f.Limit, 0); len(runs) > 0 && (lim == 0 && len(runs) == 100 || len(runs) == lim) {
				out.Next = runs[len(runs)-1].ID
			}
			return &struct{ Body RunList }{out}, nil
		})

	huma.Register(s.api, op("get-run", http.MethodGet, "/runs/{id}", auth.RunsRead, "A run and its task runs"),
		func(ctx context.Context, in *struct {
			RunPath
			TaskRuns bool `query:"task_runs" default:"true" doc:"with its task runs (all of them: GET /runs/{id}/task-runs gives a page)"`
		}) (*struct{ Body RunDetail }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			trs := []store.TaskRun{}
			if in.TaskRuns {
				rt, err := s.runTasks(ctx, r.ID)
				if err != nil {
					return nil, err
				}
				trs = rt.All()
			}
			return &struct{ Body RunDetail }{RunDetail{Run: r, TaskRuns: orNone(trs)}}, nil
		})

	huma.Register(s.api, op("cancel-run", http.MethodPost, "/runs/{id}/cancel", auth.RunsCancel, "Cancel a run"),
		func(ctx context.Context, in *RunPath) (*struct{ Body store.Run }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			if _, err := s.st.CancelRun(ctx, r.ID, "cancelled by "+string(principalOf(ctx).Role)+" token "+principalOf(ctx).ID, s.opt.Now()); err != nil {
				return nil, problem(err)
			}
			r, err = s.st.GetRun(ctx, r.ID)
			return &struct{ Body store.Run }{r}, problem(err)
		})

	sse.Register(s.api, op("run-events", http.MethodGet, "/runs/{id}/events", auth.RunsRead,
		"A run's events as they come (server-sent events), then its end"),
		map[string]any{"event": Event{}, "replayed": Replayed{}, "end": RunEnd{}},
		func(ctx context.Context, in *struct {
			RunPath
			AfterSeq uint64 `query:"after_seq" doc:"only events after this sequence number"`
			Task     string `query:"task" doc:"only this task's events"`
			Tail     int    `query:"tail" minimum:"0" doc:"start with only the last this many of the events written so far (0: all), then every new one"`
		}, send sse.Sender) {
			s.streamEvents(ctx, in.ID, store.LogFilter{Task: in.Task, After: in.AfterSeq}, in.Tail, send)
		})

	huma.Register(s.api, op("run-logs", http.MethodGet, "/runs/{id}/logs", auth.RunsRead, "A run's events, in order"),
		func(ctx context.Context, in *struct {
			RunPath
			AfterSeq  uint64 `query:"after_seq" doc:"only events after this sequence number"`
			BeforeSeq uint64 `query:"before_seq" doc:"only events before this sequence number"`
			Limit     int    `query:"limit" minimum:"0" maximum:"100000" doc:"at most this many events, the last of those selected (0: all); earlier says whether some were left out"`
			Task      string `query:"task" doc:"only this task's events"`
		}) (*struct{ Body LogPage }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			page, err := s.logPage(ctx, r.ID, store.LogFilter{Task: in.Task, After: in.AfterSeq}, in.BeforeSeq, in.Limit)
			if err != nil {
				return nil, problem(err)
			}
			page.State = r.State
			return &struct{ Body LogPage }{page}, nil
		})
}

// errLogPageFull stops reading a log at a page's end.
var errLogPageFull = errors.New("the page is full")

// logPage reads the events f selects before before (0: to the end),
// the last limit of them (0: all), holding no more than limit in memory:
// a page of earlier lines of a long log (the UI's "Load earlier
// lines").
func (s *Server) logPage(ctx context.Context, id string, f store.LogFilter, before uint64, limit int) (LogPage, error) {
	var page LogPage
	var ring []Event
	n := 0 // events kept in all; ring[n%limit] is the next to replace
	err := s.st.EachLog(ctx, id, f, func(e *runtime.Event) error {
		if before != 0 && e.Seq >= before {
			return errLogPageFull
		}
		switch {
		case limit == 0:
			page.Events = append(page.Events, EventOf(*e))
		case len(ring) < limit:
			ring = append(ring, EventOf(*e))
		default:
			ring[n%limit] = EventOf(*e)
		}
		n++
		return nil
	})
	if err != nil && !errors.Is(err, errLogPageFull) {
		return page, err
	}
	if limit > 0 && len(ring) > 0 {
		k := 0 // the oldest kept
		if n > limit {
			k = n % limit
		}
		page.Events = append(append(make([]Event, 0, len(ring)), ring[k:]...), ring[:k]...)
		page.Earlier = n > limit
	}
	if page.Events == nil {
		page.Events = []Event{}
	}
	return page, nil
}

// RunEnd is the last message of a run's event stream: its final state.
type RunEnd struct {
	State   runtime.State `json:"state"`
	Message string        `json:"message,omitempty"`
}

// Replayed follows the events a run's event stream found written when
// it opened: those after it are new.
type Replayed struct {
	// Earlier is true when events before the first sent were left out
	// (tail).
	Earlier bool `json:"earlier"`
}

// streamEvents sends a run's events that f selects as server-sent
// events ("event", each with its seq as id: a client that reconnects
// with after_seq set to the last one resumes there), the last tail of
// those written so far (0: all), then "replayed", then each new one,
// then "end" once the run is final. A write taken by this server wakes
// the stream; a write taken by another is seen within a second.
func (s *Server) streamEvents(ctx context.Context, id string, f store.LogFilter, tail int, send sse.Sender) {
	var log *store.LogFollower // each wake reads only the chunks written since
	for {
		woken := s.writes.wait()
		r, err := s.st.GetRun(ctx, id)
		if err != nil {
			return
		}
		first := log == nil
		if first {
			log = s.st.FollowLog(r.ID, f).Tail(tail)
		}
		err = log.Next(ctx, func(e *runtime.Event) error {
			return send(sse.Message{ID: int(e.Seq), Data: EventOf(*e)})
		})
		if err == nil && first {
			err = send.Data(Replayed{Earlier: log.Earlier()})
		}
		if err != nil {
			return
		}
		if r.State.Finished() {
			send.Data(RunEnd{State: r.State, Message: r.Message})
			return
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.stopping:
			t.Stop()
			return
		case <-woken:
		case <-t.C:
		}
		t.Stop()
	}
}

// LogPage is a run's events after a point, and the run's state then:
// a client following the log stops once the state is final and the
// events are read.
type LogPage struct {
	Events []Event       `json:"events"`
	State  runtime.State `json:"state"`
	// Earlier is true when events before the first given were left out
	// (limit).
	Earlier bool `json:"earlier,omitempty"`
}

// Event is a runtime.Event as the API gives it.
type Event struct {
	Seq      uint64        `json:"seq"`
	Time     string        `json:"time"`
	Kind     runtime.Kind  `json:"kind"`
	Task     string        `json:"task,omitempty"`
	MapIndex int           `json:"map_index"`
	Attempt  int           `json:"attempt,omitempty"`
	State    runtime.State `json:"state"`
	Level    runtime.Level `json:"level"`
	Msg      string        `json:"msg,omitempty"`
	Children int           `json:"children,omitempty"`
}

// EventOf is e for the API.
func EventOf(e runtime.Event) Event {
	return Event{Seq: e.Seq, Time: e.Time.Format("2006-01-02T15:04:05.000000000Z07:00"), Kind: e.Kind, Task: e.TaskRun,
		MapIndex: e.MapIndex, Attempt: e.Attempt, State: e.State, Level: e.Level, Msg: e.Msg, Children: e.Children}
}

// serverRun is the run id names, if a server holds it.
func (s *Server) serverRun(ctx context.Context, id string) (store.Run, error) {
	if r, ok := ctx.Value(scopeRunKey{}).(*store.Run); ok && r.ID == id {
		return *r, nil // read for the request's authorization, just now
	}
	r, err := s.st.GetRun(ctx, id)
	if err != nil {
		return r, problem(err)
	}
	if r.Server == nil {
		return r, huma.Error404NotFound(fmt.Sprintf("run %s is not a server's run", id))
	}
	return r, nil
}

func orNone[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// RunRequest creates a run of a deployment.
type RunRequest struct {
	// Parameters override the deployment's (a JSON object).
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
}

// ChildRunRequest creates a run of a deployment made by a run being run
// (run_deployment in its flow).
type ChildRunRequest struct {
	Deployment string `json:"deployment" doc:"FLOW/NAME" example:"nightly-etl/nightly"`
	// Parameters override the deployment's (a JSON object).
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	TaskRun    string                     `json:"task_run,omitempty" doc:"the maker's task run that makes it"`
}
