package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
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

// SlotsFreed says how many times the server has heard of a slot freed
// (a count of its own: compare two answers of one server only).
type SlotsFreed struct {
	Seq uint64 `json:"seq"`
}

// slotsFreedWait bounds one long poll of slots-freed.
const slotsFreedWait = 20 * time.Second

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

	huma.Register(s.api, op("slots-freed", http.MethodGet, "/runs/{id}/slots/freed", auth.RunsReport,
		"Wait until a slot is freed (long poll): answers at once when the count of slots freed differs from after, else at the next one, or after wait_ms"),
		func(ctx context.Context, in *struct {
			RunPath
			After  uint64 `query:"after" doc:"the count the caller knows"`
			WaitMS int    `query:"wait_ms" minimum:"0" maximum:"30000" doc:"how long to wait for a slot freed; 0 answers at once"`
		}) (*struct{ Body SlotsFreed }, error) {
			if _, err := s.serverRun(ctx, in.ID); err != nil {
				return nil, err
			}
			seq, freed := s.st.SlotsFreed()
			if seq == in.After && in.WaitMS > 0 {
				t := time.NewTimer(min(time.Duration(in.WaitMS)*time.Millisecond, slotsFreedWait))
				select {
				case <-freed:
				case <-t.C:
				case <-ctx.Done():
				case <-s.stopping:
				}
				t.Stop()
				seq, _ = s.st.SlotsFreed()
			}
			return &struct{ Body SlotsFreed }{SlotsFreed{Seq: seq}}, nil
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

	mu      sync.Mutex
	ch      chan struct{} // closed at the next slot freed
	polling bool          // a long poll is under way
	asked   bool          // SlotFreed was called since the last answer
	unheard bool          // the server has no slots-freed
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

// SlotFreed is closed when the server next hears of a slot freed: one
// long poll of slots-freed at a time, while task runs of the run wait
// (they call SlotFreed each time they look); the next is asked for as
// one answers. Against a server without it (an older one), nil: the
// waiting task runs look again every MaxSlotPoll.
func (sc *SlotClient) SlotFreed() <-chan struct{} {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.unheard {
		return nil
	}
	sc.asked = true
	if sc.ch == nil {
		sc.ch = make(chan struct{})
	}
	if !sc.polling {
		sc.polling = true
		go sc.poll()
	}
	return sc.ch
}

// HearsFrees: the server tells of every slot freed (store.slotsHeard).
func (sc *SlotClient) HearsFrees() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return !sc.unheard
}

// poll long-polls slots-freed while task runs wait: a count that moved
// closes the channel SlotFreed gave. It stops after an answer with no
// SlotFreed call since the one before, or at an error (an older server:
// never again; else the next SlotFreed starts it again).
func (sc *SlotClient) poll() {
	path := sc.path("/slots/freed")
	var seq uint64
	known := false
	for {
		q := path
		if known {
			q = Query(path, "after", strconv.FormatUint(seq, 10), "wait_ms", strconv.Itoa(int(slotsFreedWait/time.Millisecond)))
		}
		var f SlotsFreed
		err := sc.C.Do(context.Background(), "GET", q, nil, &f)
		sc.mu.Lock()
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) {
				sc.unheard = true
			}
			sc.polling = false
			if sc.ch != nil {
				close(sc.ch) // look again now, as without it
				sc.ch = nil
			}
			sc.mu.Unlock()
			return
		}
		if known && f.Seq != seq && sc.ch != nil {
			close(sc.ch)
			sc.ch = nil
		}
		seq, known = f.Seq, true
		if !sc.asked {
			sc.polling = false
			sc.mu.Unlock()
			return
		}
		sc.asked = false
		sc.mu.Unlock()
	}
}
