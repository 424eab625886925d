package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// WorkerInfo is how a worker names itself in claims and heartbeats.
type WorkerInfo struct {
	ID       string `json:"id" minLength:"1" maxLength:"64"`
	Name     string `json:"name" maxLength:"256"`
	Slots    int    `json:"slots" minimum:"1"`
	Draining bool   `json:"draining,omitempty"`
}

// heldRun is the server's run id if worker holds it (it is not over),
// else a 403.
func (s *Server) heldRun(ctx context.Context, id, worker string) (store.Run, error) {
	r, err := s.serverRun(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Server.Worker != worker || r.State.Finished() {
		return r, huma.Error403Forbidden(fmt.Sprintf("worker %s does not hold run %s", worker, r.ID))
	}
	return r, nil
}

// RunTokenRequest asks for a run token: the worker holding the run.
type RunTokenRequest struct {
	Worker string `json:"worker" minLength:"1" maxLength:"64"`
}

// RunTokenTTL bounds a run token's life: it is revoked sooner, when its
// run is claimed again or ends.
const RunTokenTTL = 24 * time.Hour

// ClaimRequest asks for up to Max due runs, waiting up to WaitMS for one.
type ClaimRequest struct {
	Worker WorkerInfo `json:"worker"`
	Max    int        `json:"max" minimum:"1" maximum:"100"`
	WaitMS int        `json:"wait_ms,omitempty" minimum:"0" maximum:"30000" doc:"long poll: answer as soon as a run is due, or after this long"`
}

// Claimed is a run a worker now holds, with what it needs to run it.
type Claimed struct {
	Run        store.Run       `json:"run"`
	File       string          `json:"file"`
	Bundle     string          `json:"bundle"`
	Parameters json.RawMessage `json:"parameters"`
	// JobVariables are the deployment's overrides of its kubernetes
	// pool's Job template (jobvars.go).
	JobVariables json.RawMessage `json:"job_variables,omitempty"`
	// TimeoutMS is the flow's timeout (0: none), in milliseconds.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// LeaseMS is the lease: heartbeat well within it.
	LeaseMS int64 `json:"lease_ms"`
}

// RunArgs are the arguments of `wfsh` that run the claimed run with its
// flow file at file, as a worker's child (local or a Kubernetes Job's
// container): the run, its parameters and context, and the run it
// resumes.
func (c *Claimed) RunArgs(file string) []string {
	args := []string{"run", file, "--server-run", c.Run.ID}
	if c.Run.ResumedFrom != "" {
		args = append(args, "--resume", c.Run.ResumedFrom)
	}
	var params map[string]json.RawMessage
	json.Unmarshal(c.Parameters, &params)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		args = append(args, "-p", k+"="+string(params[k]))
	}
	var cx map[string]string
	json.Unmarshal(c.Run.Context, &cx)
	for _, k := range slices.Sorted(maps.Keys(cx)) {
		args = append(args, "--context", k+"="+cx[k])
	}
	return args
}

// Heartbeat renews a worker's leases.
type Heartbeat struct {
	Worker WorkerInfo `json:"worker"`
	Runs   []string   `json:"runs"`
}

// HeartbeatReply says which runs to cancel and which are no longer the
// worker's (stop them at once).
type HeartbeatReply struct {
	Cancel  []string `json:"cancel"`
	Gone    []string `json:"gone"`
	LeaseMS int64    `json:"lease_ms"`
}

// WriteRequest is one write of a run's recorder.
type WriteRequest struct {
	Worker string      `json:"worker"`
	Write  store.Write `json:"write"`
}

// SubflowRequest makes the run of a subflow of a run being run: the
// child flow run its process runs for a subflow node (docs/server.md).
type SubflowRequest struct {
	ID         string                     `json:"id" pattern:"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" doc:"the child run's id, as its process named it"`
	Flow       string                     `json:"flow" minLength:"1" maxLength:"256"`
	TaskRun    string                     `json:"task_run" maxLength:"512" doc:"the subflow's task run in the parent run"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Worker     string                     `json:"worker" doc:"the worker holding the parent run"`
	// ResumedFrom: the run resumed, when the parent resumes a run whose
	// child run for the same task run this one resumes.
	ResumedFrom string `json:"resumed_from,omitempty" maxLength:"64" doc:"the child run for task_run of the run that run {id} resumes, which this one resumes"`
}

// PoolPath names a pool in a path.
type PoolPath struct {
	Pool string `path:"pool"`
}

func (s *Server) workerRoutes() {
	huma.Register(s.api, op("claim", http.MethodPost, "/pools/{pool}/claim", auth.WorkersClaim, "Claim due runs (long poll)"),
		func(ctx context.Context, in *struct {
			PoolPath
			Body ClaimRequest
		}) (*struct{ Body []Claimed }, error) {
			runs, err := s.claim(ctx, in.Pool, &in.Body)
			if err != nil {
				return nil, problem(err)
			}
			out := make([]Claimed, 0, len(runs))
			deps := map[string]store.Deployment{}
			for _, r := range runs {
				cl := Claimed{Run: r, File: r.File, Bundle: r.Server.Bundle, Parameters: r.Parameters, LeaseMS: s.opt.Lease.Milliseconds()}
				if d, ok := s.claimedDeployment(ctx, deps, r.Server.Deployment); ok {
					cl.JobVariables, cl.TimeoutMS = d.JobVariables, d.Timeout.Milliseconds()
				}
				out = append(out, cl)
			}
			return &struct{ Body []Claimed }{out}, nil
		})

	huma.Register(s.api, op("heartbeat", http.MethodPost, "/pools/{pool}/heartbeat", auth.WorkersHeartbeat, "Renew a worker's leases"),
		func(ctx context.Context, in *struct {
			PoolPath
			Body Heartbeat
		}) (*struct{ Body HeartbeatReply }, error) {
			w := in.Body.Worker
			cancel, gone, err := s.st.Heartbeat(ctx, store.Worker{ID: w.ID, Pool: in.Pool, Name: w.Name, Slots: w.Slots, Draining: w.Draining, Token: principalOf(ctx).ID},
				in.Body.Runs, s.opt.Lease, s.opt.Now())
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body HeartbeatReply }{HeartbeatReply{Cancel: orNone(cancel), Gone: orNone(gone), LeaseMS: s.opt.Lease.Milliseconds()}}, nil
		})

	huma.Register(s.api, op("write-run", http.MethodPost, "/runs/{id}/writes", auth.RunsReport, "Record a write of a run's events (the worker holding it)"),
		func(ctx context.Context, in *struct {
			RunPath
			Body WriteRequest
		}) (*struct{ Status int }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			if err := s.st.ApplyWrite(ctx, r.ID, in.Body.Worker, &in.Body.Write); err != nil {
				return nil, problem(err)
			}
			if c := in.Body.Write.Chunk; c != nil && c.Final != nil {
				s.st.SlotsEnded() // its task runs' slots went with it
			}
			s.changed(ctx)        // event streams; and slots, when it ended
			s.followed.poke(r.ID) // the task runs of a page open on it
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("create-subflow-run", http.MethodPost, "/runs/{id}/subflows", auth.RunsReport,
		"Make the run of a subflow of run {id}, run in its process (the worker holding it, or its run token): held with it, reported for as it is, and ended with it"),
		func(ctx context.Context, in *struct {
			RunPath
			Body SubflowRequest
		}) (*struct {
			Status int
			Body   store.Run
		}, error) {
			parent, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			var params json.RawMessage
			if len(in.Body.Parameters) > 0 {
				if params, err = json.Marshal(in.Body.Parameters); err != nil {
					return nil, huma.Error422UnprocessableEntity(err.Error())
				}
			}
			r, err := s.st.CreateSubflowRun(ctx, store.NewSubflow{ID: in.Body.ID, Flow: in.Body.Flow, Parent: parent.ID,
				TaskRun: in.Body.TaskRun, Parameters: params, ResumedFrom: in.Body.ResumedFrom}, in.Body.Worker, s.opt.Now())
			if err != nil {
				return nil, problem(err)
			}
			s.changed(ctx)
			return &struct {
				Status int
				Body   store.Run
			}{http.StatusCreated, r}, nil
		})

	huma.Register(s.api, op("crash-run", http.MethodPost, "/runs/{id}/crash", auth.RunsReport,
		"End a run as Crashed: its process ended without a final state (the worker holding it); Failed with timed_out, when its infrastructure stopped it at its deadline"),
		func(ctx context.Context, in *struct {
			RunPath
			Body struct {
				Worker  string `json:"worker"`
				Message string `json:"message"`
				// TimedOut: its infrastructure stopped it at its
				// deadline (the flow's timeout): Failed, not Crashed.
				TimedOut bool `json:"timed_out,omitempty"`
			}
		}) (*struct{ Status int }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			st := runtime.Crashed
			if in.Body.TimedOut {
				st = runtime.Failed
			}
			retry, err := s.st.EndHeld(ctx, r.ID, in.Body.Worker, st, in.Body.Message, s.opt.Now(), runtime.NewRunID)
			s.st.SlotsEnded()
			if err != nil {
				return nil, problem(err)
			}
			if retry != "" {
				s.logf("run %s crashed (%s): made again as run %s", r.ID, in.Body.Message, retry)
			}
			s.changed(ctx)
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("run-token", http.MethodPost, "/runs/{id}/token", auth.RunsToken,
		"Make a token for one run held, for the process that runs it elsewhere (the worker holding it)"),
		func(ctx context.Context, in *struct {
			RunPath
			Body RunTokenRequest
		}) (*struct {
			Status int
			Body   NewTokenReply
		}, error) {
			r, err := s.heldRun(ctx, in.ID, in.Body.Worker)
			if err != nil {
				return nil, err
			}
			now := s.opt.Now()
			return s.putNewToken(ctx, store.Token{Name: "run " + r.ID, Role: string(auth.Run), Pool: r.Server.Pool, Run: r.ID,
				CreatedAt: now, ExpiresAt: now.Add(RunTokenTTL)})
		})

	huma.Register(s.api, op("resolve-secret", http.MethodGet, "/runs/{id}/secrets/{name}", auth.SecretsReadValue,
		"A secret's value, for the worker holding the run"),
		func(ctx context.Context, in *struct {
			RunPath
			Name   string `path:"name"`
			Worker string `query:"worker" required:"true"`
		}) (*struct{ Body SecretValue }, error) {
			if _, err := s.heldRun(ctx, in.ID, in.Worker); err != nil {
				return nil, err
			}
			v, err := s.openSecret(ctx, in.Name)
			if err != nil {
				return nil, err
			}
			return &struct{ Body SecretValue }{SecretValue{Value: string(v)}}, nil
		})

	huma.Register(s.api, op("list-pools", http.MethodGet, "/pools", auth.PoolsRead, "List work pools"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []store.Pool }, error) {
			ps, err := s.st.ListPools(ctx)
			return &struct{ Body []store.Pool }{orNone(ps)}, problem(err)
		})

	huma.Register(s.api, op("get-pool", http.MethodGet, "/pools/{pool}", auth.PoolsRead, "A work pool (a worker token reads its own: its type)"),
		func(ctx context.Context, in *PoolPath) (*struct{ Body store.Pool }, error) {
			ps, err := s.st.ListPools(ctx)
			if err != nil {
				return nil, problem(err)
			}
			for _, p := range ps {
				if p.Name == in.Pool {
					return &struct{ Body store.Pool }{p}, nil
				}
			}
			return nil, problem(fmt.Errorf("pool %q: %w", in.Pool, store.ErrNoSuch))
		})

	huma.Register(s.api, op("put-pool", http.MethodPut, "/pools/{pool}", auth.PoolsWrite, "Create or change a work pool"),
		func(ctx context.Context, in *struct {
			PoolPath
			Body struct {
				PoolSpec
			}
		}) (*struct{ Status int }, error) {
			p, err := s.poolOf(ctx, in.Pool, &in.Body.PoolSpec)
			if err != nil {
				return nil, err
			}
			err = s.st.PutPool(ctx, p, s.opt.Now())
			return &struct{ Status int }{http.StatusNoContent}, problem(err)
		})

	for _, p := range []struct {
		verb   string
		paused bool
	}{{"pause", true}, {"resume", false}} {
		huma.Register(s.api, op(p.verb+"-pool", http.MethodPost, "/pools/{pool}/"+p.verb, auth.PoolsWrite, p.verb+" a work pool"),
			func(ctx context.Context, in *PoolPath) (*struct{ Status int }, error) {
				if err := s.st.PausePool(ctx, in.Pool, p.paused); err != nil {
					return nil, problem(err)
				}
				s.changed(ctx)
				return &struct{ Status int }{http.StatusNoContent}, nil
			})
	}

	huma.Register(s.api, op("list-limits", http.MethodGet, "/limits", auth.PoolsRead, "List the limits on tags, with the slots in use"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []store.Limit }, error) {
			ls, err := s.st.ListLimits(ctx)
			return &struct{ Body []store.Limit }{orNone(ls)}, problem(err)
		})

	huma.Register(s.api, op("put-limit", http.MethodPut, "/limits/{name}", auth.PoolsWrite, "Limit the runs at once of the deployments with a tag"),
		func(ctx context.Context, in *struct {
			Name string `path:"name" pattern:"^[A-Za-z0-9_.-]{1,64}$"`
			Body struct {
				Slots int `json:"slots" minimum:"0"`
			}
		}) (*struct{ Status int }, error) {
			if err := s.st.PutLimit(ctx, in.Name, in.Body.Slots); err != nil {
				return nil, problem(err)
			}
			s.changed(ctx) // a limit raised lets runs go
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("delete-limit", http.MethodDelete, "/limits/{name}", auth.PoolsWrite, "Remove a tag's limit"),
		func(ctx context.Context, in *struct {
			Name string `path:"name"`
		}) (*struct{ Status int }, error) {
			if err := s.st.DeleteLimit(ctx, in.Name); err != nil {
				return nil, problem(err)
			}
			s.changed(ctx)
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("list-workers", http.MethodGet, "/workers", auth.PoolsRead, "List the workers heard from in the last 5 minutes"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []store.Worker }, error) {
			ws, err := s.st.ListWorkers(ctx, s.opt.Now().Add(-5*time.Minute))
			return &struct{ Body []store.Worker }{orNone(ws)}, problem(err)
		})
}

// claim claims due runs for a worker, waiting up to the request's wait
// for one: a run created, requeued or freed wakes it at once, and it
// looks again when the next run of the pool falls due.
func (s *Server) claim(ctx context.Context, pool string, req *ClaimRequest) ([]store.Run, error) {
	deadline := s.opt.Now().Add(time.Duration(req.WaitMS) * time.Millisecond)
	w := store.Worker{ID: req.Worker.ID, Pool: pool, Name: req.Worker.Name, Slots: req.Worker.Slots, Token: principalOf(ctx).ID}
	for {
		woken := s.wake.wait()
		now := s.opt.Now()
		if req.Worker.Draining {
			_, _, err := s.st.Heartbeat(ctx, w, nil, s.opt.Lease, now)
			return nil, err
		}
		runs, err := s.st.Claim(ctx, pool, w, req.Max, s.opt.Lease, now) // the worker's heartbeat too
		if err != nil || len(runs) > 0 || !now.Before(deadline) {
			return runs, err
		}
		// Another server may make runs this one does not hear of: look
		// again within a second at most.
		wait := min(deadline.Sub(now), time.Second)
		if next, err := s.st.NextDue(ctx, pool); err == nil && next.After(now) {
			wait = min(wait, next.Sub(now))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, nil
			}
			return nil, ctx.Err()
		case <-s.stopping:
			t.Stop()
			return nil, nil
		case <-woken:
		case <-t.C:
		}
		t.Stop()
	}
}
