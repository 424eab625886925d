package web

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/wfsh/wfsh/auth"
)

// BenchmarkRunsPage renders the runs page, as a browser asks for it
// (session cookie, through the API in process), over a store of
// 100,000 runs inserted directly: the first page, a page deep in the
// history by its cursor, and filters. Keyset pages: no page counts or
// skips the runs before it.
//
//	go test -run '^$' -bench RunsPage -benchtime 200x ./web/
func BenchmarkRunsPage(b *testing.B) {
	const n = 100_000
	f := newFixture(b)
	f.deploy(b)
	tmpl := f.runOf(b, `{"who":"ann"}`)
	insertRuns(b, f, tmpl.ID, n)
	h := f.http.Config.Handler
	for _, c := range []struct{ name, query string }{
		{"first", ""},
		{"deep", "after=" + fmt.Sprintf("r%07d", n/2)},
		{"state=Failed", "state=Failed"},
		{"flow=F", "flow=F"},
		{"deployment", "deployment=F/nightly"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/runs?"+c.query, nil)
			req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: f.admin.Token})
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Next page") {
					b.Fatalf("%d: no full page\n%.2000s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// insertRuns copies run tmpl n times, ids r0000000..., one a second
// apart, every tenth Failed.
func insertRuns(b *testing.B, f *fixture, tmpl string, n int) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Clean(f.st.Path())+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM pragma_table_info('runs')`)
	if err != nil {
		b.Fatal(err)
	}
	var cols, sel []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, c)
		switch c {
		case "id":
			sel = append(sel, `printf('r%07d', x)`)
		case "created_at", "scheduled_at":
			sel = append(sel, c+` - (200000 - x) * 1000000000`)
		case "state":
			sel = append(sel, `CASE WHEN x % 10 = 0 THEN 'Failed' ELSE 'Success' END`)
		case "schedule_key":
			sel = append(sel, `NULL`)
		default:
			sel = append(sel, c)
		}
	}
	rows.Close()
	q := fmt.Sprintf(`WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < %d)
		INSERT INTO runs (%s) SELECT %s FROM seq, runs WHERE runs.id = ?`, n, strings.Join(cols, ", "), strings.Join(sel, ", "))
	if _, err := db.Exec(q, tmpl); err != nil {
		b.Fatal(err)
	}
}
