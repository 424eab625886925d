package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// RunsQuery is what selects runs, for their list and their history.
type RunsQuery struct {
	State      string    `query:"state" doc:"only runs in this state"`
	Flow       string    `query:"flow"`
	Deployment string    `query:"deployment" doc:"FLOW/NAME or id"`
	Tag        string    `query:"tag" doc:"only runs of the deployments with this tag"`
	Since      time.Time `query:"since" doc:"only runs made at or after this time (RFC 3339)"`
	Until      time.Time `query:"until" doc:"only runs made before this time (RFC 3339)"`
	Parent     string    `query:"parent" doc:"only the runs this run made (run_deployment in its flow)"`
}

// runFilter is q as the store's filter.
func (s *Server) runFilter(ctx context.Context, q RunsQuery) (store.ServerRunFilter, error) {
	f := store.ServerRunFilter{State: q.State, Flow: q.Flow, Since: q.Since, Until: q.Until, Parent: q.Parent}
	if f.State != "" {
		if _, err := store.ParseState(f.State); err != nil {
			return f, huma.Error422UnprocessableEntity(err.Error())
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, huma.Error422UnprocessableEntity("until: " + f.Until.Format(time.RFC3339) + " is not after since " + f.Since.Format(time.RFC3339))
	}
	if q.Deployment != "" {
		d, err := s.st.GetDeployment(ctx, q.Deployment)
		if err != nil {
			return f, problem(err)
		}
		f.Deployment = d.ID
	}
	if q.Tag != "" {
		ds, err := s.st.ListDeployments(ctx)
		if err != nil {
			return f, problem(err)
		}
		f.Deployments = []string{}
		for _, d := range ds {
			if slices.Contains(d.Tags, q.Tag) {
				f.Deployments = append(f.Deployments, d.ID)
			}
		}
	}
	return f, nil
}

// RunHistory counts the runs a query selects by state over time: Buckets
// of Step seconds from From (the chart above the runs table).
type RunHistory struct {
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	Step    int64           `json:"step" doc:"seconds"`
	Buckets []HistoryBucket `json:"buckets"`
}

// HistoryBucket is a bucket of a run history: its start and its runs by
// state (states without runs left out).
type HistoryBucket struct {
	Start  time.Time      `json:"start"`
	Counts map[string]int `json:"counts"`
}

// maxBuckets bounds the buckets of a history.
const maxBuckets = 500

func (s *Server) historyRoutes() {
	huma.Register(s.api, op("run-history", http.MethodGet, "/runs/history", auth.RunsRead,
		"Runs by state over time (buckets of the time range; default the last 24 hours in 48)"),
		func(ctx context.Context, in *struct {
			RunsQuery
			Buckets int `query:"buckets" minimum:"0" maximum:"500" doc:"how many buckets (default 48)"`
		}) (*struct{ Body RunHistory }, error) {
			f, err := s.runFilter(ctx, in.RunsQuery)
			if err != nil {
				return nil, err
			}
			if f.Until.IsZero() {
				f.Until = s.opt.Now()
			}
			if f.Since.IsZero() {
				f.Since = f.Until.Add(-24 * time.Hour)
			}
			if !f.Until.After(f.Since) {
				return nil, huma.Error422UnprocessableEntity("since: " + f.Since.Format(time.RFC3339) + " is not before until")
			}
			n := in.Buckets
			if n == 0 {
				n = 48
			}
			step := max(time.Second, (f.Until.Sub(f.Since)+time.Duration(n)-1)/time.Duration(n)).Round(time.Second)
			// Buckets start at multiples of step, so that the next
			// refresh's are the same, and their counts are kept.
			f.Since = time.Unix(0, f.Since.UnixNano()/int64(step)*int64(step)).In(f.Since.Location())
			n = min(maxBuckets, int((f.Until.Sub(f.Since)+step-1)/step))
			f.Until = f.Since.Add(time.Duration(n) * step)
			counts, err := s.history.counts(ctx, s.st, f, step, n)
			if err != nil {
				return nil, problem(err)
			}
			out := RunHistory{From: f.Since, To: f.Until, Step: int64(step / time.Second), Buckets: make([]HistoryBucket, n)}
			for i := range out.Buckets {
				out.Buckets[i] = HistoryBucket{Start: f.Since.Add(time.Duration(i) * step), Counts: map[string]int{}}
				for st, c := range counts[i] {
					if c > 0 {
						out.Buckets[i].Counts[runtime.State(st).String()] = c
					}
				}
			}
			return &struct{ Body RunHistory }{out}, nil
		})
}

// historyCache keeps the counts of the buckets that can no longer
// change: those before the oldest run still unfinished (a run is made in
// the bucket of now, so only its state can change). A refresh counts
// again only from there on: usually the last bucket or two, not the
// day.
type historyCache struct {
	mu      sync.Mutex
	entries map[string]*historyEntry
}

type historyEntry struct {
	counts [][runtime.NumStates]int
	final  int // the buckets before it are final
}

// maxHistories bounds the histories kept (one per filter and range).
const maxHistories = 64

func newHistoryCache() *historyCache { return &historyCache{entries: map[string]*historyEntry{}} }

// counts are the counts of the n buckets of step from f.Since by state.
func (h *historyCache) counts(ctx context.Context, st *store.Store, f store.ServerRunFilter, step time.Duration, n int) ([][runtime.NumStates]int, error) {
	key := fmt.Sprintf("%s|%s|%s|%t%q|%d|%d|%d", f.State, f.Flow, f.Deployment, f.Deployments == nil, f.Deployments, f.Since.UnixNano(), step, n)
	oldest, err := st.OldestUnfinished(ctx, f)
	if err != nil {
		return nil, err
	}
	final := n
	if !oldest.IsZero() {
		final = int(oldest.Sub(f.Since) / step)
	}
	h.mu.Lock()
	e := h.entries[key]
	from := 0
	if e != nil {
		from = min(e.final, final)
	}
	h.mu.Unlock()
	sub := f
	sub.Since = f.Since.Add(time.Duration(from) * step)
	cs, err := st.CountRuns(ctx, sub, step)
	if err != nil {
		return nil, err
	}
	out := make([][runtime.NumStates]int, n)
	h.mu.Lock()
	defer h.mu.Unlock()
	if e != nil {
		copy(out[:from], e.counts[:from])
	}
	for _, c := range cs {
		if b := from + c.Bucket; b >= 0 && b < n {
			out[b][c.State] += c.Count
		}
	}
	if len(h.entries) >= maxHistories && h.entries[key] == nil {
		clear(h.entries)
	}
	h.entries[key] = &historyEntry{counts: out, final: final}
	return slices.Clone(out), nil
}
