package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/internal/pgtest"
)

// BenchmarkRunsPage renders the runs page as a browser asks for it
// (session cookie, each API call in process) over a store of 1,000,000
// runs (store.FillRuns, a second apart up to now), on SQLite and on
// PostgreSQL (a cluster of its own, internal/pgtest): the first page
// with its chart (the last 24 hours: 86,400 runs counted by state), a
// page deep in the history by its cursor, each filter, the table's and
// the chart's refreshes. Keyset pages: no page counts or skips the runs
// before it. Reports the median and p99 of the server's time.
//
//	go test -run '^$' -bench RunsPage -benchtime 200x ./web/
func BenchmarkRunsPage(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchRunsPage(b, newFixture(b)) })
	b.Run("postgres", func(b *testing.B) { benchRunsPage(b, newFixtureAt(b, pgtest.Start(b).NewDatabase(b))) })
}

func benchRunsPage(b *testing.B, f *fixture) {
	const n = 1_000_000
	ctx := context.Background()
	f.deploy(b)
	d, err := f.st.GetDeployment(ctx, "F/nightly")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := f.st.FillRuns(ctx, &d, n, time.Now().Add(-n*time.Second)); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d runs made in %v", n, time.Since(start).Round(time.Millisecond))
	h := f.http.Config.Handler
	for _, c := range []struct{ name, query, want string }{
		{"first", "", "Next page"},
		{"deep", "after=fill-500000", "Next page"},
		{"state=Failed", "state=Failed", "Next page"},
		{"flow=F", "flow=F", "Next page"},
		{"deployment", "deployment=F/nightly", "Next page"},
		{"deployment+state+deep", "deployment=F/nightly&state=Success&after=fill-500001", "Next page"},
		{"range=1h", "range=1h", "Next page"},
		{"range=7d+state=Failed", "range=7d&state=Failed", "Next page"},
		{"table refresh", "fragment=1", "Next page"},
		{"chart refresh", "", `"Success":`}, // the API's history the page's chart asks for
	} {
		b.Run(c.name, func(b *testing.B) {
			path := "/runs?" + c.query
			if c.name == "chart refresh" {
				path = RunsFilter{}.History()
			}
			req := httptest.NewRequest("GET", path, nil)
			req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: f.session(b, f.admin.Token)})
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				took = append(took, time.Since(t0))
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), c.want) {
					b.Fatalf("%d: no %q\n%.3000s", rec.Code, c.want, rec.Body.String())
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
