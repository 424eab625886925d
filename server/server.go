// Package server is `wfsh server`: the HTTP API under /api/v1 (its
// OpenAPI document generated from the Go types by huma), the scheduler
// that makes the runs of deployments' schedules, and the reaper that ends
// what a lapsed lease left, both under a leader lease so that several
// servers on one database are safe. Workers claim runs by long poll and
// send their events as the store's own writes (store.Write). The state
// machine and who owns each state: docs/server.md.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// Options configure a Server.
type Options struct {
	Store *store.Store
	// Sealer encrypts secrets at rest; nil: the secret endpoints answer
	// 503.
	Sealer Sealer
	// ID names this server process in the leader lease.
	ID string
	// Lease is how long a worker holds a run without a heartbeat
	// (default 30s); LeaderTTL the leader lease (default 10s); Tick how
	// often the leader schedules and reaps (default 1s).
	Lease, LeaderTTL, Tick time.Duration
	// Ahead is how far ahead the scheduler makes a deployment's runs
	// (default 1h): they show as upcoming.
	Ahead time.Duration
	// Log takes the server's own lines (a run crashed, a leader change).
	Log io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Sealer encrypts a secret's value under its name, and opens it again.
type Sealer interface {
	Seal(name string, plaintext []byte) ([]byte, error)
	Open(name string, sealed []byte) ([]byte, error)
}

// Server serves the API and runs the singleton loops.
type Server struct {
	opt  Options
	st   *store.Store
	mux  *http.ServeMux
	api  huma.API
	wake *notifier // claims waiting for a run
	// writes wakes the event streams when this server takes a write.
	writes *notifier
	logMu  sync.Mutex
	// followed are the task runs of the runs last read (store.RunTasks).
	followed *followed
	// history keeps the counts of runs by state that can no longer
	// change (GET /runs/history).
	history *historyCache
	// stopping is closed by Stop: long polls answer and streams end.
	stopping chan struct{}
	stopOnce sync.Once
}

// New makes a server over opt.Store.
func New(opt Options) *Server {
	if opt.Lease <= 0 {
		opt.Lease = 30 * time.Second
	}
	if opt.LeaderTTL <= 0 {
		opt.LeaderTTL = 10 * time.Second
	}
	if opt.Tick <= 0 {
		opt.Tick = time.Second
	}
	if opt.Ahead <= 0 {
		opt.Ahead = time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if opt.ID == "" {
		opt.ID = runtime.NewRunID()
	}
	s := &Server{opt: opt, st: opt.Store, mux: http.NewServeMux(), wake: newNotifier(), writes: newNotifier(), followed: newFollowed(), history: newHistoryCache(), stopping: make(chan struct{})}
	cfg := huma.DefaultConfig("wfsh", "1")
	cfg.OpenAPIPath = "/api/v1/openapi"
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil // no $schema links in answers
	s.api = humago.New(s.mux, cfg)
	s.api.UseMiddleware(s.authenticate)
	s.routes()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", s.ready)
	return s
}

// Handler is the server's HTTP handler: the API, its document and the
// health endpoints.
func (s *Server) Handler() http.Handler { return limitBody(s.mux) }

// Stop ends what waits on the server's side: a claim's long poll
// answers with the runs it has (none), a slot waiter with the count it
// has, a run's event stream ends (the client opens it again where it
// was). Calls that are doing work go on. wfsh server calls it as its
// HTTP server begins to shut down, so that shutting down waits for
// work, not for the polls' timers (up to 30 s) or for streams that
// never end.
func (s *Server) Stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// ready answers 200 when the database answers.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if _, err := s.st.Version(r.Context()); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ready\n")
}

// limitBody refuses at once a body declared larger than any operation
// takes (each operation's own limit answers 413 past it: 1 MiB, a
// bundle MaxBundle).
func limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBundle+1<<20 {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.opt.Log, "%s wfsh server: %s\n", s.opt.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// Run runs the singleton loops until ctx ends: while this server holds
// the leader lease, it makes scheduled runs and reaps lapsed leases.
func (s *Server) Run(ctx context.Context) error {
	// What other servers on the database change wakes this one's claims
	// and streams (PostgreSQL; nothing on SQLite).
	go s.st.Listen(ctx, func() { s.wake.all(); s.writes.all() })
	t := time.NewTicker(s.opt.Tick)
	defer t.Stop()
	leading := false
	for {
		now := s.opt.Now()
		ok, err := s.st.LeadFor(ctx, "leader", s.opt.ID, s.opt.LeaderTTL, now)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logf("leader lease: %v", err)
		case ok && !leading:
			s.logf("leading: this server schedules runs and reaps leases")
			s.dropMissed(ctx, now)
		case !ok && leading:
			s.logf("no longer leading")
		}
		leading = ok && err == nil
		if leading {
			s.tick(ctx, now)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tick is one round of the leader's loops.
func (s *Server) tick(ctx context.Context, now time.Time) {
	r, err := s.st.Reap(ctx, now, runtime.NewRunID)
	if len(r.Crashed)+len(r.Cancelled)+len(r.Requeued) > 0 {
		s.st.SlotsEnded()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.logf("reaper: %v", err)
		}
	} else {
		for _, id := range r.Crashed {
			s.logf("run %s crashed: its worker's lease lapsed", id)
		}
		if len(r.Requeued)+len(r.Retries) > 0 {
			s.changed(ctx)
		}
	}
	if err := s.schedule(ctx, now); err != nil && ctx.Err() == nil {
		s.logf("scheduler: %v", err)
	}
}

// changed wakes the claims and event streams waiting on this server, and
// those of the other servers on the database (store.Notify): runs were
// made, requeued, freed or written to.
func (s *Server) changed(ctx context.Context) {
	s.wake.all()
	s.writes.all()
	if err := s.st.Notify(context.WithoutCancel(ctx)); err != nil {
		s.logf("notify: %v", err)
	}
}

// notifier wakes the claims waiting on a pool when runs may be due.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// wait returns a channel closed at the next wake-up.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// all wakes every waiting claim.
func (n *notifier) all() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// problem maps a store error to the API's answer.
func problem(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoSuch), errors.Is(err, store.ErrNotFound):
		return huma.Error404NotFound(err.Error())
	case errors.Is(err, store.ErrFinished), errors.Is(err, store.ErrKeyTaken), errors.Is(err, store.ErrNotResumable),
		errors.Is(err, store.ErrRunExists):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, store.ErrNotResumedChild):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, store.ErrNotHeld):
		return huma.Error410Gone(err.Error())
	}
	return huma.Error500InternalServerError(err.Error())
}
