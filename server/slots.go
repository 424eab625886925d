package server

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// Task-run slots of concurrency limits for the runs workers run: the
// run's process (`wfsh run --server-run`) takes the slots of its tagged
// task runs here, in the server's store, so that a limit holds across
// every worker (docs/server.md, "Concurrency limits"). Only the worker
// holding the run, or the run's own token, may, and only for that run.

// SlotRequest asks for a slot of each limited tag of a task run.
type SlotRequest struct {
	Holder string         `json:"holder" minLength:"1" maxLength:"512" doc:"the row's name: the task run's, made unique"`
	Tags   []string       `json:"tags" maxItems:"64"`
	Limits map[string]int `json:"limits,omitempty" doc:"the flow's own limits (@flow(limits=)), by tag"`
	// LeaseMS is how long the slots hold without renewal.
	LeaseMS int64 `json:"lease_ms" minimum:"1000" maximum:"3600000"`
	Look    bool  `json:"look,omitempty" doc:"read first, and write only if there is room"`
}

// SlotGrant answers a SlotRequest: OK with the scopes held, or the first
// full tag with its limit and slots in use, and in how long the first of
// those lapses (0: none has a lease).
type SlotGrant struct {
	OK      bool     `json:"ok"`
	Scopes  []string `json:"scopes"`
	Full    string   `json:"full,omitempty"`
	Limit   int      `json:"limit,omitempty"`
	Used    int      `json:"used,omitempty"`
	LapseMS int64    `json:"lapse_ms,omitempty"`
}

// SlotsKeep renews the lease of a run's slot holders.
type SlotsKeep struct {
	Holders []string `json:"holders" maxItems:"10000"`
	LeaseMS int64    `json:"lease_ms" minimum:"1000" maximum:"3600000"`
}

// SlotsFree frees a holder's slots (of Scopes only, if given).
type SlotsFree struct {
	Holder string   `json:"holder" minLength:"1" maxLength:"512"`
	Scopes []string `json:"scopes,omitempty" maxItems:"64"`
}

// StoredLimit is a tag's limit on the server, if it has one.
type StoredLimit struct {
	Slots int  `json:"slots"`
	Set   bool `json:"set"`
}

func (s *Server) slotRoutes() {
	huma.Register(s.api, op("take-slots", http.MethodPost, "/runs/{id}/slots", auth.RunsReport,
		"Take a slot of each limited tag of a task run of the run (its worker, or its run token)"),
		func(ctx context.Context, in *struct {
			RunPath
			Body SlotRequest
		}) (*struct{ Body SlotGrant }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			now := s.opt.Now()
			c := &store.SlotClaim{RunID: r.ID, Holder: in.Body.Holder, Tags: in.Body.Tags, Flow: in.Body.Limits,
				Lease: time.Duration(in.Body.LeaseMS) * time.Millisecond}
			g, err := s.st.TakeSlotsAt(ctx, c, now, in.Body.Look)
			if err != nil {
				return nil, problem(err)
			}
			out := SlotGrant{OK: g.OK, Scopes: orNone(g.Scopes), Full: g.Full, Limit: g.Limit, Used: g.Used}
			if !g.Lapse.IsZero() {
				out.LapseMS = max(g.Lapse.Sub(now).Milliseconds(), 1)
			}
			return &struct{ Body SlotGrant }{out}, nil
		})

	huma.Register(s.api, op("keep-slots", http.MethodPost, "/runs/{id}/slots/keep", auth.RunsReport,
		"Renew the lease of the run's task-run slots"),
		func(ctx context.Context, in *struct {
			RunPath
			Body SlotsKeep
		}) (*struct{ Status int }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			lease := time.Duration(in.Body.LeaseMS) * time.Millisecond
			if err := s.st.KeepSlots(ctx, r.ID, in.Body.Holders, lease); err != nil {
				return nil, problem(err)
			}
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("free-slots", http.MethodPost, "/runs/{id}/slots/free", auth.RunsReport,
		"Free a task run's slots of the run"),
		func(ctx context.Context, in *struct {
			RunPath
			Body SlotsFree
		}) (*struct{ Status int }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			if err := s.st.FreeSlots(ctx, r.ID, in.Body.Holder, in.Body.Scopes); err != nil {
				return nil, problem(err)
			}
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("run-limit", http.MethodGet, "/runs/{id}/limits/{tag}", auth.RunsReport,
		"A tag's limit, as the run's task runs see it"),
		func(ctx context.Context, in *struct {
			RunPath
			Tag string `path:"tag" maxLength:"256"`
		}) (*struct{ Body StoredLimit }, error) {
			if _, err := s.serverRun(ctx, in.ID); err != nil {
				return nil, err
			}
			n, ok, err := s.st.StoredLimit(ctx, in.Tag)
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body StoredLimit }{StoredLimit{Slots: n, Set: ok}}, nil
		})
}

// SlotClient takes the slots of a run's task runs from the server (a
// store.SlotStore for store.Limiter): what the process of a run a worker
// holds uses, with the worker's token or the run's.
type SlotClient struct {
	C     *Client
	RunID string
}

var _ store.SlotStore = (*SlotClient)(nil)

func (sc *SlotClient) path(p string) string { return "/runs/" + url.PathEscape(sc.RunID) + p }

// TakeSlots asks the server for c's slots.
func (sc *SlotClient) TakeSlots(ctx context.Context, c *store.SlotClaim, look bool) (store.SlotGrant, error) {
	var g SlotGrant
	err := sc.C.Do(ctx, "POST", sc.path("/slots"), SlotRequest{Holder: c.Holder, Tags: c.Tags, Limits: c.Flow,
		LeaseMS: c.Lease.Milliseconds(), Look: look}, &g)
	out := store.SlotGrant{OK: g.OK, Scopes: g.Scopes, Full: g.Full, Limit: g.Limit, Used: g.Used}
	if g.LapseMS > 0 {
		out.Lapse = time.Now().Add(time.Duration(g.LapseMS) * time.Millisecond)
	}
	return out, err
}

// KeepSlots renews holders' slots on the server.
func (sc *SlotClient) KeepSlots(ctx context.Context, _ string, holders []string, lease time.Duration) error {
	return sc.C.Do(ctx, "POST", sc.path("/slots/keep"), SlotsKeep{Holders: holders, LeaseMS: lease.Milliseconds()}, nil)
}

// FreeSlots frees holder's slots on the server.
func (sc *SlotClient) FreeSlots(ctx context.Context, _, holder string, scopes []string) error {
	return sc.C.Do(ctx, "POST", sc.path("/slots/free"), SlotsFree{Holder: holder, Scopes: scopes}, nil)
}

// StoredLimit reads tag's limit on the server.
func (sc *SlotClient) StoredLimit(ctx context.Context, tag string) (int, bool, error) {
	var l StoredLimit
	err := sc.C.Do(ctx, "GET", sc.path("/limits/"+url.PathEscape(tag)), nil, &l)
	return l.Slots, l.Set, err
}

// SlotFreed is nil: the server does not tell a run's process of slots
// freed elsewhere, so its waiting task runs look again (MaxSlotPoll).
func (sc *SlotClient) SlotFreed() <-chan struct{} { return nil }
