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
)

// BenchmarkRunsPage renders the runs page as a browser asks for it
// (session cookie, each API call in process) over a store of 1,000,000
// runs (store.FillRuns): the first page, a page deep in the history by
// its cursor, and each filter. Keyset pages: no page counts or skips the
// runs before it. Reports the median and p99 of the server's time.
//
//	go test -run '^$' -bench RunsPage -benchtime 200x ./web/
func BenchmarkRunsPage(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	f := newFixture(b)
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
	for _, c := range []struct{ name, query string }{
		{"first", ""},
		{"deep", "after=fill-500000"},
		{"state=Failed", "state=Failed"},
		{"flow=F", "flow=F"},
		{"deployment", "deployment=F/nightly"},
		{"deployment+state+deep", "deployment=F/nightly&state=Success&after=fill-500001"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/runs?"+c.query, nil)
			req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: f.admin.Token})
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				took = append(took, time.Since(t0))
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Next page") {
					b.Fatalf("%d: no full page\n%.2000s", rec.Code, rec.Body.String())
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
