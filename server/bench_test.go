package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// BenchmarkAPIMillionRuns: the API's answers with a million runs in the
// store (SQLite), through HTTP: making a run, the first page of runs,
// the first page of one state, and a page deep in the history by its
// cursor. p50 and p99 of each are metrics (ms).
func BenchmarkAPIMillionRuns(b *testing.B) {
	ctx := context.Background()
	ts := newTestServer(b)
	d := ts.deploy(b, ts.admin, DeploymentSpec{})
	start := time.Now()
	if err := ts.st.FillRuns(ctx, &d.Deployment, 1_000_000, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		b.Fatal(err)
	}
	b.Logf("a million runs inserted in %v", time.Since(start).Round(time.Millisecond))
	calls := []struct {
		name string
		do   func(i int) error
	}{
		{"create", func(int) error {
			return ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, nil)
		}},
		{"list", func(int) error { return ts.admin.Do(ctx, "GET", "/runs?limit=100", nil, nil) }},
		{"list-failed", func(int) error {
			return ts.admin.Do(ctx, "GET", "/runs?limit=100&state="+runtime.Failed.String(), nil, nil)
		}},
		{"list-deep", func(i int) error {
			return ts.admin.Do(ctx, "GET", fmt.Sprintf("/runs?limit=100&after=fill-%d", 500_000+i), nil, nil)
		}},
	}
	for _, c := range calls {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for i := range b.N {
				t0 := time.Now()
				if err := c.do(i); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
