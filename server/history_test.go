package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// TestRunHistory: runs by tag and time range, and their counts by state
// over time: 600 runs a second apart (one in ten Failed) of a deployment
// tagged "etl", counted in 10 buckets of a minute.
func TestRunHistory(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	viewer := ts.token(t, string(auth.Viewer))
	d := ts.deploy(t, ts.admin, DeploymentSpec{Tags: []string{"etl"}})
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := ts.st.FillRuns(ctx, &d.Deployment, 600, t0); err != nil { // fill-i made at t0 + i s
		t.Fatal(err)
	}
	from, to := t0.Format(time.RFC3339), t0.Add(10*time.Minute).Format(time.RFC3339)
	var h RunHistory
	if err := viewer.Do(ctx, "GET", Query("/runs/history", "since", from, "until", to, "buckets", "10", "tag", "etl"), nil, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Buckets) != 10 || h.Step != 60 || !h.From.Equal(t0) {
		t.Fatalf("history: %d buckets of %d s from %v", len(h.Buckets), h.Step, h.From)
	}
	total := 0
	for i, b := range h.Buckets {
		s, f := b.Counts["Success"], b.Counts["Failed"]
		total += s + f
		want := 60
		if i == 0 {
			want = 59 // fill-1 to fill-59
		}
		if s+f != want || f != want/10 || !b.Start.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("bucket %d (%v): %v; want %d runs, %d Failed", i, b.Start, b.Counts, want, want/10)
		}
	}
	if total != 599 { // fill-600 is made at the range's end, excluded
		t.Errorf("%d runs counted, want 599", total)
	}
	var all RunHistory // the same range without a tag, kept: not the unknown tag's
	if err := viewer.Do(ctx, "GET", Query("/runs/history", "since", from, "until", to), nil, &all); err != nil || len(all.Buckets) != 47 {
		t.Fatalf("no tag: %v, %d buckets", err, len(all.Buckets))
	}
	var none RunHistory // 48 buckets by default: 13 s each, from a multiple of 13 s
	if err := viewer.Do(ctx, "GET", Query("/runs/history", "since", from, "until", to, "tag", "nosuch"), nil, &none); err != nil ||
		len(none.Buckets) != 47 || none.Step != 13 || none.From.Unix()%13 != 0 || none.From.After(t0) || !none.To.After(t0.Add(10*time.Minute-time.Second)) {
		t.Fatalf("an unknown tag: %v, %d buckets of %d s, %v to %v", err, len(none.Buckets), none.Step, none.From, none.To)
	}
	for _, b := range none.Buckets {
		if len(b.Counts) != 0 {
			t.Errorf("an unknown tag: %v at %v", b.Counts, b.Start)
		}
	}
	var l RunList
	if err := viewer.Do(ctx, "GET", Query("/runs", "since", t0.Add(100*time.Second).Format(time.RFC3339), "until", t0.Add(110*time.Second).Format(time.RFC3339),
		"tag", "etl", "limit", "5"), nil, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Runs) != 5 || l.Runs[0].ID != "fill-109" || l.Next != "fill-105" {
		t.Errorf("runs 100 s to 110 s: %d, first %v, next %q", len(l.Runs), l.Runs, l.Next)
	}
	if err := viewer.Do(ctx, "GET", Query("/runs", "tag", "nosuch"), nil, &l); err != nil || len(l.Runs) != 0 {
		t.Errorf("runs of an unknown tag: %v %d", err, len(l.Runs))
	}
	if err := viewer.Do(ctx, "GET", Query("/runs", "since", to, "until", from), nil, nil); status(err) != 422 {
		t.Errorf("until before since: %v, want 422", err)
	}
	if err := viewer.Do(ctx, "GET", Query("/runs/history", "since", "yesterday"), nil, nil); status(err) != 422 {
		t.Errorf("since=yesterday: %v, want 422", err)
	}
}

// TestRunHistoryFollows: a history asked for again counts the runs that
// changed since: a run made now counts as Scheduled in the last bucket,
// then as Cancelled once cancelled; the older buckets keep their counts.
func TestRunHistoryFollows(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	d := ts.deploy(t, ts.admin, DeploymentSpec{})
	now := time.Now()
	if err := ts.st.FillRuns(ctx, &d.Deployment, 300, now.Add(-time.Hour)); err != nil { // 5 minutes of runs, an hour ago
		t.Fatal(err)
	}
	history := func() (old, last map[string]int) {
		t.Helper()
		var h RunHistory
		if err := ts.admin.Do(ctx, "GET", Query("/runs/history", "since", now.Add(-2*time.Hour).Format(time.RFC3339), "buckets", "12"), nil, &h); err != nil {
			t.Fatal(err)
		}
		old = map[string]int{}
		for _, b := range h.Buckets[:len(h.Buckets)-1] {
			for k, v := range b.Counts {
				old[k] += v
			}
		}
		return old, h.Buckets[len(h.Buckets)-1].Counts
	}
	check := func(what string, old, last map[string]int, want map[string]int) {
		t.Helper()
		if old["Success"] != 270 || old["Failed"] != 30 || len(old) != 2 || fmt.Sprint(last) != fmt.Sprint(want) {
			t.Errorf("%s: before the last bucket %v (want 270 Success, 30 Failed); the last %v, want %v", what, old, last, want)
		}
	}
	old, last := history()
	check("the fill", old, last, map[string]int{})
	var r store.Run
	if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &r); err != nil {
		t.Fatal(err)
	}
	old, last = history()
	check("a run made", old, last, map[string]int{"Scheduled": 1})
	if err := ts.admin.Do(ctx, "POST", "/runs/"+r.ID+"/cancel", nil, nil); err != nil {
		t.Fatal(err)
	}
	old, last = history()
	check("the run cancelled", old, last, map[string]int{"Cancelled": 1})
}
