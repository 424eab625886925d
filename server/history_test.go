package server

import (
	"context"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
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
	var none RunHistory // 48 buckets by default: 13 s each, 47 of them
	if err := viewer.Do(ctx, "GET", Query("/runs/history", "since", from, "until", to, "tag", "nosuch"), nil, &none); err != nil || len(none.Buckets) != 47 || none.Step != 13 {
		t.Fatalf("an unknown tag: %v, %d buckets of %d s", err, len(none.Buckets), none.Step)
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
