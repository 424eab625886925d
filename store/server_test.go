package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

var t0 = time.Date(2026, 3, 27, 2, 0, 0, 0, time.UTC)

// deployed opens a store holding one deployment "F/nightly" of pool p.
func deployed(t *testing.T, b backend, mod func(*Deployment)) (*Store, Deployment) {
	t.Helper()
	s, _ := b.open(t)
	ctx := context.Background()
	if _, err := s.PutBundle(ctx, "h1", []byte("tar"), t0); err != nil {
		t.Fatal(err)
	}
	d := Deployment{ID: "d1", Flow: "F", Name: "nightly", File: "f.star", Bundle: "h1", Pool: "p"}
	if mod != nil {
		mod(&d)
	}
	d, err := s.PutDeployment(ctx, d, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s, d
}

func state(t *testing.T, s *Store, id string) runtime.State {
	t.Helper()
	r, err := s.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.State
}

func ids(runs []Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

// TestServerRunLifecycle walks a run through every state a worker moves
// it to, and checks the moves that must be refused.
func TestServerRunLifecycle(t *testing.T) { eachBackend(t, testServerRunLifecycle) }

func testServerRunLifecycle(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	if _, err := s.CreateRun(ctx, NewRun{ID: "r1", Deployment: &d}, t0); err != nil {
		t.Fatal(err)
	}
	if st := state(t, s, "r1"); st != runtime.Scheduled {
		t.Fatalf("new run is %s, want Scheduled", st)
	}
	// Not claimable before it is due, nor from another pool.
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w1"}, 1, time.Second, t0.Add(-time.Second)); err != nil || len(runs) != 0 {
		t.Fatalf("claim before due: %v, %v", ids(runs), err)
	}
	if runs, err := s.Claim(ctx, "other", Worker{ID: "w1"}, 1, time.Second, t0); err != nil || len(runs) != 0 {
		t.Fatalf("claim from another pool: %v, %v", ids(runs), err)
	}
	// A write before the claim is refused.
	if err := s.ApplyWrite(ctx, "r1", "w1", &Write{Start: &Start{Time: t0}}); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("write to a Scheduled run: %v, want ErrNotHeld", err)
	}
	runs, err := s.Claim(ctx, "p", Worker{ID: "w1"}, 5, 30*time.Second, t0)
	if err != nil || !slices.Equal(ids(runs), []string{"r1"}) {
		t.Fatalf("claim: %v, %v; want [r1]", ids(runs), err)
	}
	if r := runs[0]; r.State != runtime.Pending || r.Server.Worker != "w1" || !r.Server.LeaseUntil.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("claimed run: %s by %q until %v", r.State, r.Server.Worker, r.Server.LeaseUntil)
	}
	// Claimed once: a second worker gets nothing.
	if runs, _ := s.Claim(ctx, "p", Worker{ID: "w2"}, 5, time.Second, t0); len(runs) != 0 {
		t.Fatalf("second claim got %v", ids(runs))
	}
	if err := s.ApplyWrite(ctx, "r1", "w2", &Write{Start: &Start{Time: t0}}); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("write by another worker: %v, want ErrNotHeld", err)
	}
	if err := s.ApplyWrite(ctx, "r1", "w1", &Write{Start: &Start{Time: t0.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if st := state(t, s, "r1"); st != runtime.Running {
		t.Fatalf("started run is %s, want Running", st)
	}
	cancel, gone, err := s.Heartbeat(ctx, Worker{ID: "w1", Pool: "p", Name: "w", Slots: 1}, []string{"r1", "zzz"}, time.Minute, t0.Add(2*time.Second))
	if err != nil || len(cancel) != 0 || !slices.Equal(gone, []string{"zzz"}) {
		t.Fatalf("heartbeat: cancel %v gone %v, %v", cancel, gone, err)
	}
	if st, err := s.CancelRun(ctx, "r1", "by test", t0); err != nil || st != runtime.Cancelling {
		t.Fatalf("cancel a Running run: %s, %v; want Cancelling", st, err)
	}
	cancel, _, _ = s.Heartbeat(ctx, Worker{ID: "w1", Pool: "p"}, []string{"r1"}, time.Minute, t0.Add(3*time.Second))
	if !slices.Equal(cancel, []string{"r1"}) {
		t.Fatalf("heartbeat after cancel: %v, want [r1]", cancel)
	}
	// The child stops and says so: the run ends Cancelled, once.
	final := &Chunk{Seq: 9, Tasks: "[]", Children: "{}", Final: &Final{State: runtime.Cancelled, Msg: "interrupted", Time: t0.Add(4 * time.Second)}}
	if err := s.ApplyWrite(ctx, "r1", "w1", &Write{Chunk: final}); err != nil {
		t.Fatal(err)
	}
	if st := state(t, s, "r1"); st != runtime.Cancelled {
		t.Fatalf("run is %s, want Cancelled", st)
	}
	if err := s.ApplyWrite(ctx, "r1", "w1", &Write{Chunk: final}); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("write to an ended run: %v, want ErrNotHeld", err)
	}
	if _, err := s.CancelRun(ctx, "r1", "again", t0); !errors.Is(err, ErrFinished) {
		t.Fatalf("cancel an ended run: %v, want ErrFinished", err)
	}
	var slots int
	s.db.QueryRow(`SELECT count(*) FROM slots`).Scan(&slots)
	if slots != 0 {
		t.Errorf("%d slots left after the run ended", slots)
	}
}

// TestLate: a run claimed more than its deployment's late_after past its
// time is marked Late; one claimed in time is not.
func TestLate(t *testing.T) { eachBackend(t, testLate) }

func testLate(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, func(d *Deployment) { d.LateAfter = 10 * time.Second })
	s.CreateRun(ctx, NewRun{ID: "ontime", Deployment: &d, ScheduledAt: t0}, t0)
	s.CreateRun(ctx, NewRun{ID: "late", Deployment: &d, ScheduledAt: t0.Add(-time.Minute)}, t0)
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w"}, 2, time.Minute, t0.Add(5*time.Second)); err != nil || len(runs) != 2 {
		t.Fatalf("claim: %v, %v", ids(runs), err)
	}
	for id, want := range map[string]bool{"ontime": false, "late": true} {
		r, err := s.GetRun(ctx, id)
		if err != nil || r.Scheduled == nil || r.Scheduled.Late != want {
			t.Errorf("%s: scheduled %+v, %v; want late %v", id, r.Scheduled, err, want)
		}
	}
}

// TestCancelScheduled: a run no worker holds is Cancelled at once.
func TestCancelScheduled(t *testing.T) { eachBackend(t, testCancelScheduled) }

func testCancelScheduled(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	s.CreateRun(ctx, NewRun{ID: "r1", Deployment: &d}, t0)
	if st, err := s.CancelRun(ctx, "r1", "no", t0); err != nil || st != runtime.Cancelled {
		t.Fatalf("cancel: %s, %v", st, err)
	}
	if runs, _ := s.Claim(ctx, "p", Worker{ID: "w"}, 1, time.Second, t0.Add(time.Hour)); len(runs) != 0 {
		t.Fatalf("a cancelled run was claimed: %v", ids(runs))
	}
}

// TestReap: each state with a lapsed lease goes where its owner would
// have taken it.
func TestReap(t *testing.T) { eachBackend(t, testReap) }

func testReap(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, func(d *Deployment) { d.CrashRetries = 1 })
	for _, id := range []string{"pending", "running", "cancelling"} {
		s.CreateRun(ctx, NewRun{ID: id, Deployment: &d}, t0)
	}
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w"}, 3, 2*time.Second, t0); err != nil || len(runs) != 3 {
		t.Fatalf("claim: %v, %v", ids(runs), err)
	}
	s.ApplyWrite(ctx, "running", "w", &Write{Start: &Start{Time: t0}})
	s.ApplyWrite(ctx, "cancelling", "w", &Write{Start: &Start{Time: t0}})
	s.CancelRun(ctx, "cancelling", "", t0)
	n := 0
	newID := func() string { n++; return fmt.Sprintf("again%d", n) }
	// Not lapsed yet: nothing happens.
	if r, err := s.Reap(ctx, t0.Add(time.Second), newID); err != nil || len(r.Requeued)+len(r.Crashed)+len(r.Cancelled) != 0 {
		t.Fatalf("early reap: %+v, %v", r, err)
	}
	r, err := s.Reap(ctx, t0.Add(3*time.Second), newID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Requeued, []string{"pending"}) || !slices.Equal(r.Crashed, []string{"running"}) ||
		!slices.Equal(r.Cancelled, []string{"cancelling"}) || !slices.Equal(r.Retries, []string{"again1"}) {
		t.Fatalf("reap: %+v", r)
	}
	for id, want := range map[string]runtime.State{"pending": runtime.Scheduled, "running": runtime.Crashed,
		"cancelling": runtime.Cancelled, "again1": runtime.Scheduled} {
		if st := state(t, s, id); st != want {
			t.Errorf("%s is %s, want %s", id, st, want)
		}
	}
	// The retry crashes too: crash_retries=1 allows no third run.
	s.Claim(ctx, "p", Worker{ID: "w"}, 5, time.Second, t0.Add(4*time.Second))
	s.ApplyWrite(ctx, "again1", "w", &Write{Start: &Start{Time: t0}})
	r, _ = s.Reap(ctx, t0.Add(time.Minute), newID)
	if !slices.Contains(r.Crashed, "again1") || len(r.Retries) != 0 {
		t.Fatalf("second reap: %+v, want again1 crashed and no retry", r)
	}
	// The worker of a reaped run hears it is gone.
	_, gone, _ := s.Heartbeat(ctx, Worker{ID: "w", Pool: "p"}, []string{"running"}, time.Second, t0.Add(time.Minute))
	if !slices.Equal(gone, []string{"running"}) {
		t.Errorf("heartbeat for a crashed run: gone %v", gone)
	}
}

// TestConcurrencySlots: a deployment's limit holds across claims, and a
// run that ends frees its slot.
func TestConcurrencySlots(t *testing.T) { eachBackend(t, testConcurrencySlots) }

func testConcurrencySlots(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, func(d *Deployment) { d.Concurrency = 2 })
	for i := range 5 {
		s.CreateRun(ctx, NewRun{ID: fmt.Sprintf("r%d", i), Deployment: &d}, t0)
	}
	a, _ := s.Claim(ctx, "p", Worker{ID: "w1"}, 1, time.Minute, t0)
	a2, _ := s.Claim(ctx, "p", Worker{ID: "w2"}, 5, time.Minute, t0)
	if len(a) != 1 || len(a2) != 1 {
		t.Fatalf("claims under a limit of 2: %v and %v", ids(a), ids(a2))
	}
	id := a[0].ID
	s.ApplyWrite(ctx, id, "w1", &Write{Start: &Start{Time: t0}, Chunk: &Chunk{Seq: 1, Tasks: "[]", Children: "{}",
		Final: &Final{State: runtime.Success, Time: t0}}})
	c, _ := s.Claim(ctx, "p", Worker{ID: "w1"}, 5, time.Minute, t0)
	if len(c) != 1 {
		t.Fatalf("after one ended, claimed %v, want one run", ids(c))
	}
}

// TestScheduledKeyOnce: a scheduled time makes one run, however often
// it is made.
func TestScheduledKeyOnce(t *testing.T) { eachBackend(t, testScheduledKeyOnce) }

func testScheduledKeyOnce(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	sc := &Scheduled{ScheduleID: "d1/0", Key: "d1/0@2026-03-27T02:00:00Z"}
	if _, err := s.CreateRun(ctx, NewRun{ID: "a", Deployment: &d, ScheduledAt: t0, Scheduled: sc}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRun(ctx, NewRun{ID: "b", Deployment: &d, ScheduledAt: t0, Scheduled: sc}, t0); !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("second run of one key: %v, want ErrKeyTaken", err)
	}
	if at, err := s.LastScheduledOf(ctx, "d1", "d1/0"); err != nil || !at.Equal(t0) {
		t.Fatalf("LastScheduledOf = %v, %v", at, err)
	}
}

// TestLeader: one holder at a time; a lapsed lease passes on.
func TestLeader(t *testing.T) { eachBackend(t, testLeader) }

func testLeader(t *testing.T, b backend) {
	ctx := context.Background()
	s, _ := b.open(t)
	if ok, err := s.LeadFor(ctx, "scheduler", "a", 10*time.Second, t0); !ok || err != nil {
		t.Fatalf("a: %v, %v", ok, err)
	}
	if ok, _ := s.LeadFor(ctx, "scheduler", "b", 10*time.Second, t0.Add(5*time.Second)); ok {
		t.Fatal("b took a live lease")
	}
	if ok, _ := s.LeadFor(ctx, "scheduler", "a", 10*time.Second, t0.Add(9*time.Second)); !ok {
		t.Fatal("a could not renew")
	}
	if ok, _ := s.LeadFor(ctx, "scheduler", "b", 10*time.Second, t0.Add(20*time.Second)); !ok {
		t.Fatal("b did not take a lapsed lease")
	}
}

// TestConcurrentClaims: six workers, each through a Store of its own,
// claim a run at once from a deployment limited to two runs at a time:
// two runs are claimed in all, each once, with a slot of the deployment
// each. There are more runs than the claims look at together, so that
// on PostgreSQL each claim locks runs of its own (SKIP LOCKED) and only
// the slots' lock keeps them from taking three.
func TestConcurrentClaims(t *testing.T) { eachBackend(t, testConcurrentClaims) }

func testConcurrentClaims(t *testing.T, b backend) {
	ctx := context.Background()
	where := b.where(t)
	s, err := Open(where)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutBundle(ctx, "h1", []byte("tar"), t0); err != nil {
		t.Fatal(err)
	}
	d, err := s.PutDeployment(ctx, Deployment{ID: "d1", Flow: "F", Name: "nightly", File: "f.star", Bundle: "h1", Pool: "p", Concurrency: 2}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := s.CreateRun(ctx, NewRun{ID: fmt.Sprintf("r%d", i), Deployment: &d}, t0); err != nil {
			t.Fatal(err)
		}
	}
	const workers = 6
	claimed := make(chan []string, workers)
	errs := make(chan error, workers)
	start := make(chan struct{})
	for w := range workers {
		go func() {
			ws, err := Open(where)
			if err != nil {
				errs <- err
				claimed <- nil
				return
			}
			defer ws.Close()
			<-start
			runs, err := ws.Claim(ctx, "p", Worker{ID: fmt.Sprintf("w%d", w)}, 1, time.Minute, t0)
			errs <- err
			claimed <- ids(runs)
		}()
	}
	close(start)
	var all []string
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		all = append(all, <-claimed...)
	}
	slices.Sort(all)
	if len(all) != 2 || all[0] == all[1] {
		t.Errorf("claimed %v under a limit of 2", all)
	}
	var slots int
	if err := s.db.QueryRow(`SELECT count(*) FROM slots WHERE scope = 'deployment:d1'`).Scan(&slots); err != nil || slots != 2 {
		t.Errorf("%d slots of the deployment, %v; want 2", slots, err)
	}
}

// TestServerRunPages: pages of runs by their cursor cover every run once,
// newest first, filtered or not.
func TestServerRunPages(t *testing.T) { eachBackend(t, testServerRunPages) }

func testServerRunPages(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	if err := s.FillRuns(ctx, &d, 95, t0); err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{"", "Failed"} {
		var all []Run
		var after *Run
		for {
			page, err := s.ListServerRuns(ctx, ServerRunFilter{State: state, Limit: 10, After: after})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if len(page) < 10 {
				break
			}
			after = &page[len(page)-1]
		}
		want := 95
		if state == "Failed" {
			want = 9
		}
		seen := map[string]bool{}
		for i, r := range all {
			if seen[r.ID] || state != "" && r.State.String() != state {
				t.Fatalf("state %q: run %s twice or in state %s", state, r.ID, r.State)
			}
			seen[r.ID] = true
			if i > 0 && r.Server.CreatedAt.After(all[i-1].Server.CreatedAt) {
				t.Fatalf("state %q: not newest first at %d", state, i)
			}
		}
		if len(all) != want {
			t.Errorf("state %q: %d runs over the pages, want %d", state, len(all), want)
		}
	}
}

// TestTagLimit: a limit on a tag holds across the deployments tagged
// with it; a run that ends frees its slot; a limit of 0 holds all.
func TestTagLimit(t *testing.T) { eachBackend(t, testTagLimit) }

func testTagLimit(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, func(d *Deployment) { d.Tags = []string{"db", "x"} })
	d2 := d
	d2.ID, d2.Name = "d2", "other"
	d2, err := s.PutDeployment(ctx, d2, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutLimit(ctx, "db", 1); err != nil {
		t.Fatal(err)
	}
	s.CreateRun(ctx, NewRun{ID: "a", Deployment: &d}, t0)
	s.CreateRun(ctx, NewRun{ID: "b", Deployment: &d2}, t0)
	got, _ := s.Claim(ctx, "p", Worker{ID: "w"}, 5, time.Minute, t0)
	if len(got) != 1 {
		t.Fatalf("claimed %v under a limit of 1 on tag db", ids(got))
	}
	ls, _ := s.ListLimits(ctx)
	if len(ls) != 1 || ls[0].Used != 1 {
		t.Errorf("limits %+v, want db with 1 used", ls)
	}
	s.ApplyWrite(ctx, got[0].ID, "w", &Write{Start: &Start{Time: t0}, Chunk: &Chunk{Seq: 1, Tasks: "[]", Children: "{}",
		Final: &Final{State: runtime.Success, Time: t0}}})
	if got, _ := s.Claim(ctx, "p", Worker{ID: "w"}, 5, time.Minute, t0); len(got) != 1 {
		t.Fatalf("after the first ended: claimed %v, want the other", ids(got))
	}
	s.PutLimit(ctx, "x", 0)
	s.CreateRun(ctx, NewRun{ID: "c", Deployment: &d}, t0)
	s.DeleteLimit(ctx, "db")
	if got, _ := s.Claim(ctx, "p", Worker{ID: "w"}, 5, time.Minute, t0); len(got) != 0 {
		t.Fatalf("a limit of 0 on tag x let %v run", ids(got))
	}
}

// TestCrashHeld: a process that ends without a final state crashes its
// run, made again while its deployment's crash_retries allow (as the
// reaper does); a run being cancelled ends Cancelled; an ended run stays.
func TestCrashHeld(t *testing.T) { eachBackend(t, testCrashHeld) }

func testCrashHeld(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, func(d *Deployment) { d.CrashRetries = 1 })
	for _, id := range []string{"died", "stopped"} {
		s.CreateRun(ctx, NewRun{ID: id, Deployment: &d}, t0)
	}
	s.Claim(ctx, "p", Worker{ID: "w"}, 2, time.Minute, t0)
	for _, id := range []string{"died", "stopped"} {
		s.ApplyWrite(ctx, id, "w", &Write{Start: &Start{Time: t0}})
	}
	s.CancelRun(ctx, "stopped", "by test", t0)
	if _, err := s.CrashHeld(ctx, "died", "other", "x", t0); !errors.Is(err, ErrNotHeld) {
		t.Errorf("another worker's report: %v, want ErrNotHeld", err)
	}
	retries := map[string]string{}
	for id, want := range map[string]runtime.State{"died": runtime.Crashed, "stopped": runtime.Cancelled} {
		retry, err := s.CrashHeld(ctx, id, "w", "killed", t0)
		if err != nil {
			t.Fatal(err)
		}
		retries[id] = retry
		if st := state(t, s, id); st != want {
			t.Errorf("%s: %s, want %s", id, st, want)
		}
		if again, err := s.CrashHeld(ctx, id, "w", "again", t0); err != nil || again != "" || state(t, s, id) != want {
			t.Errorf("%s reported again: %q, %v, %s", id, again, err, state(t, s, id))
		}
	}
	if retries["stopped"] != "" {
		t.Errorf("a cancelled run was made again as %s", retries["stopped"])
	}
	retry := retries["died"]
	if retry == "" || state(t, s, retry) != runtime.Scheduled {
		t.Fatalf("the crashed run was not made again: %q", retry)
	}
	// The retry crashes too: crash_retries=1 allows no third run.
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w"}, 2, time.Minute, t0.Add(time.Second)); err != nil || len(runs) != 1 || runs[0].ID != retry {
		t.Fatalf("claim of the retry: %v, %v", ids(runs), err)
	}
	s.ApplyWrite(ctx, retry, "w", &Write{Start: &Start{Time: t0}})
	if third, err := s.CrashHeld(ctx, retry, "w", "killed again", t0.Add(2*time.Second)); err != nil || third != "" {
		t.Errorf("second crash: retry %q, %v; want none", third, err)
	}
}

// TestRunTokensRevoked: a run's tokens are revoked when the run is
// claimed again (after its lease lapsed) and when it ends.
func TestRunTokensRevoked(t *testing.T) { eachBackend(t, testRunTokensRevoked) }

func testRunTokensRevoked(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	s.CreateRun(ctx, NewRun{ID: "r1", Deployment: &d}, t0)
	valid := func(hash string, at time.Time) bool {
		tok, err := s.TokenByHash(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Valid(at)
	}
	put := func(hash string, at time.Time) {
		if err := s.PutToken(ctx, Token{ID: hash, Hash: hash, Name: "run r1", Role: "run", Pool: "p", Run: "r1", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w1"}, 1, time.Second, t0); err != nil || len(runs) != 1 {
		t.Fatalf("claim: %v, %v", ids(runs), err)
	}
	put("first", t0)
	// The lease lapses; the run is claimed again: the first token goes.
	if _, err := s.Reap(ctx, t0.Add(2*time.Second), func() string { return "retry" }); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w2"}, 1, time.Minute, t0.Add(3*time.Second)); err != nil || len(runs) != 1 {
		t.Fatalf("claim again: %v, %v", ids(runs), err)
	}
	if valid("first", t0.Add(4*time.Second)) {
		t.Error("a run token outlived its run's claim by another worker")
	}
	put("second", t0.Add(4*time.Second))
	if !valid("second", t0.Add(5*time.Second)) {
		t.Fatal("a new run token is not valid")
	}
	if _, err := s.CrashHeld(ctx, "r1", "w2", "gone", t0.Add(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	if valid("second", t0.Add(7*time.Second)) {
		t.Error("a run token outlived its run's end")
	}
}

// TestResumeRun: a run that ended Failed, Cancelled or Crashed is made
// again as a Scheduled run of its deployment, with its parameters,
// context and bundle and resumed_from set; a run in any other state is
// refused, and so is one whose deployment is gone.
func TestResumeRun(t *testing.T) { eachBackend(t, testResumeRun) }

func testResumeRun(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	for _, id := range []string{"crashed", "cancelled", "failed", "ok", "running"} {
		if _, err := s.CreateRun(ctx, NewRun{ID: id, Deployment: &d, Parameters: []byte(`{"n":7}`), Context: []byte(`{"today":"2020-11-30"}`)}, t0); err != nil {
			t.Fatal(err)
		}
	}
	s.CancelRun(ctx, "cancelled", "by test", t0)
	s.Claim(ctx, "p", Worker{ID: "w"}, 4, time.Minute, t0)
	for _, id := range []string{"crashed", "failed", "ok", "running"} {
		s.ApplyWrite(ctx, id, "w", &Write{Start: &Start{Time: t0}})
	}
	s.CrashHeld(ctx, "crashed", "w", "killed", t0)
	for id, st := range map[string]runtime.State{"failed": runtime.Failed, "ok": runtime.Success} {
		if _, err := s.db.ExecContext(ctx, `UPDATE runs SET state = ?, holder = '' WHERE id = ?`, st.String(), id); err != nil {
			t.Fatal(err)
		}
	}
	// The deployment is changed after the runs: a resumed run keeps the
	// bundle its run had.
	if _, err := s.PutBundle(ctx, "h2", []byte("tar2"), t0); err != nil {
		t.Fatal(err)
	}
	d.Bundle = "h2"
	if _, err := s.PutDeployment(ctx, d, t0); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	for i, id := range []string{"crashed", "cancelled", "failed"} {
		nid := fmt.Sprintf("new%d", i)
		r, err := s.ResumeRun(ctx, id, nid, at)
		if err != nil {
			t.Fatalf("resume %s: %v", id, err)
		}
		if r.ID != nid || r.State != runtime.Scheduled || r.ResumedFrom != id || r.Server == nil ||
			r.Server.Bundle != "h1" || r.Server.Deployment != d.ID || r.Server.Pool != "p" ||
			string(r.Parameters) != `{"n":7}` || string(r.Context) != `{"today":"2020-11-30"}` || !r.Server.CreatedAt.Equal(at) {
			t.Errorf("resume %s: %+v %+v", id, r, r.Server)
		}
	}
	for _, id := range []string{"ok", "running", "new0"} {
		if _, err := s.ResumeRun(ctx, id, "x-"+id, at); !errors.Is(err, ErrNotResumable) {
			t.Errorf("resume %s (%s): %v, want ErrNotResumable", id, state(t, s, id), err)
		}
	}
	if _, err := s.ResumeRun(ctx, "nosuch", "x", at); !errors.Is(err, ErrNotFound) {
		t.Errorf("resume an unknown run: %v, want ErrNotFound", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE runs SET deployment_id = 'gone' WHERE id = 'failed'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResumeRun(ctx, "failed", "x", at); !errors.Is(err, ErrNoSuch) {
		t.Errorf("resume a run whose deployment is gone: %v, want ErrNoSuch", err)
	}
}

// TestCancelChildren: cancelling a run cancels the runs it made (with
// their parent recorded) that have not ended, and theirs; runs that
// ended, and runs of other parents, stay as they are.
func TestCancelChildren(t *testing.T) { eachBackend(t, testCancelChildren) }

func testCancelChildren(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, nil)
	mk := func(id, parent string) {
		t.Helper()
		r, err := s.CreateRun(ctx, NewRun{ID: id, Deployment: &d, Parent: parent, ParentTaskRun: "run_deployment"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Parent != parent || parent != "" && r.ParentTaskRun != "run_deployment" {
			t.Fatalf("run %s: parent %q %q", id, r.Parent, r.ParentTaskRun)
		}
	}
	mk("top", "")
	mk("running", "top")
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w"}, 2, time.Minute, t0); err != nil || len(runs) != 2 {
		t.Fatalf("claim: %v, %v", ids(runs), err)
	}
	mk("due", "top")
	mk("grandchild", "running")
	mk("done", "top")
	mk("other", "")
	mk("others-child", "other")
	if _, err := s.CancelRun(ctx, "done", "by test", t0); err != nil {
		t.Fatal(err)
	}
	if st, err := s.CancelRun(ctx, "top", "by test", t0); err != nil || st != runtime.Cancelling {
		t.Fatalf("cancel: %s, %v", st, err)
	}
	for id, want := range map[string]runtime.State{"top": runtime.Cancelling, "running": runtime.Cancelling, "due": runtime.Cancelled,
		"grandchild": runtime.Cancelled, "done": runtime.Cancelled, "other": runtime.Scheduled, "others-child": runtime.Scheduled} {
		if st := state(t, s, id); st != want {
			t.Errorf("%s: %s, want %s", id, st, want)
		}
	}
	if r, err := s.GetRun(ctx, "grandchild"); err != nil || r.Message != "cancelled with the run that made it, running" {
		t.Errorf("the grandchild's message: %q, %v", r.Message, err)
	}
	if r, err := s.GetRun(ctx, "done"); err != nil || r.Message != "by test" {
		t.Errorf("a run that had ended was changed: %q, %v", r.Message, err)
	}
}

// TestSubflowRuns: a subflow's run made on the server (CreateSubflowRun)
// is held with its parent by the parent's worker, knows its top-level
// run, counts as none of the deployment's runs in progress nor of its
// worker's, and ends with its parent: Crashed when the parent ends
// without ending it, Cancelled with a cancelled parent.
func TestSubflowRuns(t *testing.T) { eachBackend(t, testSubflowRuns) }

func testSubflowRuns(t *testing.T, b backend) {
	ctx := context.Background()
	s, d := deployed(t, b, func(d *Deployment) { d.Overlap = "skip" })
	claim := func(id string) {
		t.Helper()
		if _, err := s.CreateRun(ctx, NewRun{ID: id, Deployment: &d}, t0); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.Claim(ctx, "p", Worker{ID: "w", Token: "tw"}, 1, time.Minute, t0); err != nil || len(runs) != 1 || runs[0].ID != id {
			t.Fatalf("claim of %s: %v, %v", id, ids(runs), err)
		}
	}
	sub := func(id, parent, worker string) (Run, error) {
		return s.CreateSubflowRun(ctx, NewSubflow{ID: id, Flow: "child", Parent: parent, TaskRun: "child-" + id,
			Parameters: json.RawMessage(`{"day":"2026-12-03"}`)}, worker, t0)
	}
	claim("top")
	r, err := sub("sub", "top", "w")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != runtime.Pending || r.Parent != "top" || r.ParentTaskRun != "child-sub" || r.SubflowOf != "top" || r.Flow != "child" ||
		r.Server == nil || r.Server.Worker != "w" || r.Server.Holder != "tw" || r.Server.Deployment != d.ID || !r.Server.LeaseUntil.IsZero() ||
		string(r.Parameters) != `{"day":"2026-12-03"}` {
		t.Fatalf("the subflow's run: %+v %+v", r, r.Server)
	}
	if r, err := sub("subsub", "sub", "w"); err != nil || r.SubflowOf != "top" || r.Parent != "sub" {
		t.Fatalf("a subflow's subflow: %+v, %v", r, err)
	}
	if _, err := sub("x", "top", "other"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a worker that does not hold the parent: %v, want ErrNotHeld", err)
	}
	if _, err := sub("sub", "top", "w"); !errors.Is(err, ErrRunExists) {
		t.Errorf("an id taken: %v, want ErrRunExists", err)
	}
	if _, err := sub("y", "nope", "w"); !errors.Is(err, ErrNotFound) {
		t.Errorf("no parent: %v, want ErrNotFound", err)
	}
	// The worker holds one run (the subflows run in its process); the
	// deployment has one in progress.
	if ws, err := s.ListWorkers(ctx, t0.Add(-time.Hour)); err != nil || len(ws) != 1 || ws[0].Running != 1 {
		t.Errorf("workers: %+v, %v; want w with 1 run", ws, err)
	}
	if _, err := s.CreateRun(ctx, NewRun{ID: "next", Deployment: &d}, t0); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.Claim(ctx, "p", Worker{ID: "w2", Token: "tw2"}, 1, time.Minute, t0); err != nil || len(runs) != 0 {
		t.Fatalf("claim beside a run in progress (overlap skip): %v, %v", ids(runs), err)
	}
	if r, err := s.GetRun(ctx, "next"); err != nil || r.State != runtime.Cancelled || !strings.Contains(r.Message, "skipped: 1 run(s)") {
		t.Errorf("the skipped run: %s %q, %v; want 1 run in progress counted, not its subflows", r.State, r.Message, err)
	}

	// The worker dies: its crash report ends the subflows too.
	if _, err := s.EndHeld(ctx, "top", "w", runtime.Crashed, "the process died", t0, func() string { return "retry" }); err != nil {
		t.Fatal(err)
	}
	for id, msg := range map[string]string{"sub": "crashed: its parent run top ended Crashed before it did",
		"subsub": "crashed: its parent run sub ended Crashed before it did"} {
		if r, err := s.GetRun(ctx, id); err != nil || r.State != runtime.Crashed || r.Message != msg || r.FinishedAt.IsZero() {
			t.Errorf("%s: %s %q, %v; want Crashed %q", id, r.State, r.Message, err, msg)
		}
	}
	if _, err := sub("late", "top", "w"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a subflow of an ended run: %v, want ErrNotHeld", err)
	}

	// Cancelled: the subflows are asked to stop with their parent, and
	// end Cancelled with it if its process ends them not.
	claim("top2")
	if _, err := sub("sub2", "top2", "w"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelRun(ctx, "top2", "by test", t0); err != nil {
		t.Fatal(err)
	}
	if st := state(t, s, "sub2"); st != runtime.Cancelling {
		t.Errorf("sub2 of a cancelled run: %s, want Cancelling", st)
	}
	if _, err := s.EndHeld(ctx, "top2", "w", runtime.Crashed, "stopped", t0, func() string { return "" }); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRun(ctx, "sub2"); err != nil || r.State != runtime.Cancelled || r.Message != "cancelled with its parent run top2" {
		t.Errorf("sub2: %s %q, %v", r.State, r.Message, err)
	}

	// A run that resumes top2 makes the run of the same subflow resuming
	// sub2, and no other run.
	if _, err := s.ResumeRun(ctx, "top2", "top3", t0); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Claim(ctx, "p", Worker{ID: "w", Token: "tw"}, 10, time.Minute, t0)
	if err != nil || !slices.ContainsFunc(runs, func(r Run) bool { return r.ID == "top3" }) {
		t.Fatalf("claim of top3: %v, %v", ids(runs), err)
	}
	resume := func(id, taskRun, from string) (Run, error) {
		return s.CreateSubflowRun(ctx, NewSubflow{ID: id, Flow: "child", Parent: "top3", TaskRun: taskRun, ResumedFrom: from}, "w", t0)
	}
	if r, err := resume("sub3", "child-sub2", "sub2"); err != nil || r.ResumedFrom != "sub2" || r.Parent != "top3" {
		t.Errorf("the subflow's run resuming sub2: %+v, %v", r, err)
	}
	for _, c := range [][2]string{{"child-other", "sub2"}, {"child-sub2", "sub"}, {"child-sub2", "nope"}} {
		if r, err := resume("bad-"+c[0]+"-"+c[1], c[0], c[1]); !errors.Is(err, ErrNotResumedChild) {
			t.Errorf("the run of subflow %s resuming %s: %+v, %v; want ErrNotResumedChild", c[0], c[1], r, err)
		}
	}
}
