package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// TestRunsByTimeAndDeployments: runs listed over several deployments
// (a tag's) come newest first, each once, a page at a time; a time range
// bounds them; CountRuns counts them by state and bucket as listing
// them would.
func TestRunsByTimeAndDeployments(t *testing.T) { eachBackend(t, testRunsByTimeAndDeployments) }

func testRunsByTimeAndDeployments(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	d2 := d
	d2.ID, d2.Name = "d2", "hourly"
	if _, err := s.PutDeployment(ctx, d2, t0); err != nil {
		t.Fatal(err)
	}
	const n = 90 // run fill-i made at t0 + i s; Failed when i%10 == 0
	if err := s.FillRuns(ctx, &d, n, t0); err != nil {
		t.Fatal(err)
	}
	for i := 3; i <= n; i += 3 {
		if _, err := s.db.ExecContext(ctx, `UPDATE runs SET deployment_id = 'd2' WHERE id = ?`, fmt.Sprintf("fill-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(f ServerRunFilter) []Run {
		var all []Run
		for {
			f.Limit = 7
			page, err := s.ListServerRuns(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if len(page) < 7 {
				return all
			}
			f.After = &page[len(page)-1]
		}
	}
	check := func(what string, runs []Run, want func(i int) bool) {
		t.Helper()
		var got, exp []string
		for _, r := range runs {
			got = append(got, r.ID)
		}
		for i := n; i >= 1; i-- {
			if want(i) {
				exp = append(exp, fmt.Sprintf("fill-%d", i))
			}
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: %v\nwant %v", what, got, exp)
		}
	}
	check("both deployments", list(ServerRunFilter{Deployments: []string{"d1", "d2"}}), func(int) bool { return true })
	check("d2", list(ServerRunFilter{Deployments: []string{"d2"}}), func(i int) bool { return i%3 == 0 })
	check("no deployment", list(ServerRunFilter{Deployments: []string{}}), func(int) bool { return false })
	check("failed of both", list(ServerRunFilter{Deployments: []string{"d1", "d2"}, State: "failed"}), func(i int) bool { return i%10 == 0 })
	since, until := t0.Add(31*time.Second), t0.Add(61*time.Second)
	check("31 s to 61 s", list(ServerRunFilter{Since: since, Until: until}), func(i int) bool { return i >= 31 && i < 61 })
	check("d1 from 31 s", list(ServerRunFilter{Since: since, Deployment: "d1"}), func(i int) bool { return i >= 31 && i%3 != 0 })

	count := func(f ServerRunFilter, want func(i int) bool) {
		t.Helper()
		f.Since, f.Until = t0, t0.Add(100*time.Second)
		cs, err := s.CountRuns(ctx, f, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, exp := map[string]int{}, map[string]int{}
		for _, c := range cs {
			got[fmt.Sprintf("%d/%s", c.Bucket, c.State)] = c.Count
		}
		for i := 1; i <= n; i++ {
			st := runtime.Success
			if i%10 == 0 {
				st = runtime.Failed
			}
			if want(i) {
				exp[fmt.Sprintf("%d/%s", i/10, st)]++
			}
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("counts %v\nwant %v", got, exp)
		}
	}
	count(ServerRunFilter{}, func(int) bool { return true })
	count(ServerRunFilter{Deployments: []string{"d2"}}, func(i int) bool { return i%3 == 0 })
	count(ServerRunFilter{Flow: "F", State: "Failed"}, func(i int) bool { return i%10 == 0 })
}

// TestParseStateAll: every state reads back from its name in any case,
// the server's Scheduled and Cancelling too (the runs page filters by
// them).
func TestParseStateAll(t *testing.T) {
	for i := range runtime.NumStates {
		st := runtime.State(i)
		for _, name := range []string{st.String(), strings.ToLower(st.String())} {
			if got, err := ParseState(name); err != nil || got != st {
				t.Errorf("ParseState(%q) = %v, %v", name, got, err)
			}
		}
	}
	if _, err := ParseState("Late"); err == nil {
		t.Error("ParseState(Late): no error")
	}
}
