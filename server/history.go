package server

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
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
}

// runFilter is q as the store's filter.
func (s *Server) runFilter(ctx context.Context, q RunsQuery) (store.ServerRunFilter, error) {
	f := store.ServerRunFilter{State: q.State, Flow: q.Flow, Since: q.Since, Until: q.Until}
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
			n = min(maxBuckets, int((f.Until.Sub(f.Since)+step-1)/step))
			counts, err := s.st.CountRuns(ctx, f, step)
			if err != nil {
				return nil, problem(err)
			}
			out := RunHistory{From: f.Since, To: f.Until, Step: int64(step / time.Second), Buckets: make([]HistoryBucket, n)}
			for i := range out.Buckets {
				out.Buckets[i] = HistoryBucket{Start: f.Since.Add(time.Duration(i) * step), Counts: map[string]int{}}
			}
			for _, c := range counts {
				if c.Bucket >= 0 && c.Bucket < n {
					out.Buckets[c.Bucket].Counts[c.State.String()] += c.Count
				}
			}
			return &struct{ Body RunHistory }{out}, nil
		})
}
