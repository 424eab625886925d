package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

func slotClaim(run, holder string, flow map[string]int, tags ...string) *SlotClaim {
	return &SlotClaim{RunID: run, Holder: holder, Tags: tags, Flow: flow, Lease: 10 * time.Second}
}

// used is the limit's slots in use, as wfsh limit ls shows them.
func used(t *testing.T, s *Store, tag string) int {
	t.Helper()
	ls, err := s.ListLimits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Name == tag {
			return l.Used
		}
	}
	t.Fatalf("no limit %s in %v", tag, ls)
	return 0
}

func TestSlotsAcquireRelease(t *testing.T) { eachBackend(t, testSlotsAcquireRelease) }

func testSlotsAcquireRelease(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.PutLimit(ctx, "db", 2); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		g, err := s.AcquireSlots(ctx, slotClaim("r1", fmt.Sprintf("q[%d]", i), nil, "db", "free"), now)
		if err != nil {
			t.Fatal(err)
		}
		if g.OK != want {
			t.Fatalf("claim %d: OK %v, want %v (%+v)", i, g.OK, want, g)
		}
		if want && (len(g.Scopes) != 1 || g.Scopes[0] != "task:db") {
			t.Errorf("claim %d holds %v, want [task:db] (free has no limit)", i, g.Scopes)
		}
		if !want && (g.Full != "db" || g.Used != 2 || g.Limit != 2) {
			t.Errorf("full claim: %+v, want db with 2 of 2 in use", g)
		}
	}
	if n := used(t, s, "db"); n != 2 {
		t.Errorf("limit ls: %d in use, want 2", n)
	}
	// Asking again for a slot it holds: the same slot, not a second.
	if g, err := s.AcquireSlots(ctx, slotClaim("r1", "q[0]", nil, "db"), now); err != nil || !g.OK {
		t.Fatalf("holder asking again: %+v %v", g, err)
	}
	if err := s.ReleaseSlots(ctx, "r1", "q[0]"); err != nil {
		t.Fatal(err)
	}
	if g, err := s.AcquireSlots(ctx, slotClaim("r2", "q[2]", nil, "db"), now); err != nil || !g.OK {
		t.Fatalf("after a release: %+v %v", g, err)
	}
	// The flow's own limit is the smaller one here: 1 of db.
	if g, err := s.AcquireSlots(ctx, slotClaim("r3", "x", map[string]int{"db": 1}, "db"), now); err != nil || g.OK || g.Limit != 1 {
		t.Fatalf("flow limit 1 under the store's 2: %+v %v", g, err)
	}
	// A flow's limit alone limits a tag the store has none for.
	fl := map[string]int{"api": 1}
	if g, err := s.AcquireSlots(ctx, slotClaim("r3", "a", fl, "api"), now); err != nil || !g.OK {
		t.Fatalf("flow limit api: %+v %v", g, err)
	}
	if g, err := s.AcquireSlots(ctx, slotClaim("r4", "a", fl, "api"), now); err != nil || g.OK {
		t.Fatalf("second api under a flow limit of 1: %+v %v", g, err)
	}
	// A limit of 0 lets none run.
	if err := s.PutLimit(ctx, "paused", 0); err != nil {
		t.Fatal(err)
	}
	if g, err := s.AcquireSlots(ctx, slotClaim("r5", "p", nil, "paused"), now); err != nil || g.OK {
		t.Fatalf("limit 0: %+v %v", g, err)
	}
}

func TestSlotsLeaseLapse(t *testing.T) { eachBackend(t, testSlotsLeaseLapse) }

func testSlotsLeaseLapse(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.PutLimit(ctx, "db", 1); err != nil {
		t.Fatal(err)
	}
	if g, err := s.AcquireSlots(ctx, slotClaim("dead", "q", nil, "db"), now); err != nil || !g.OK {
		t.Fatalf("%+v %v", g, err)
	}
	g, err := s.AcquireSlots(ctx, slotClaim("live", "q", nil, "db"), now.Add(5*time.Second))
	if err != nil || g.OK {
		t.Fatalf("held slot taken: %+v %v", g, err)
	}
	if want := now.Add(10 * time.Second); !g.Lapse.Equal(want) {
		t.Errorf("lapse %v, want %v", g.Lapse, want)
	}
	// Renewed, it holds on past its first lease.
	if err := s.RenewSlots(ctx, "dead", "q", now.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if g, err := s.AcquireSlots(ctx, slotClaim("live", "q", nil, "db"), now.Add(15*time.Second)); err != nil || g.OK {
		t.Fatalf("renewed slot taken: %+v %v", g, err)
	}
	// Not renewed again (its holder died): the slot is free once it lapses.
	if g, err := s.AcquireSlots(ctx, slotClaim("live", "q", nil, "db"), now.Add(20*time.Second)); err != nil || !g.OK {
		t.Fatalf("lapsed slot still held: %+v %v", g, err)
	}
	var rows int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM slots WHERE run_id = 'dead'`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("lapsed slot rows: %d %v, want 0", rows, err)
	}
}

// TestSlotsContention: goroutines of two stores on one database take a
// limit of 2 in turns; never more than 2 hold it, and each ends.
func TestSlotsContention(t *testing.T) { eachBackend(t, testSlotsContention) }

func testSlotsContention(t *testing.T, b backend) {
	s1, where := b.open(t)
	s2, err := Open(where)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := context.Background()
	if err := s1.PutLimit(ctx, "db", 2); err != nil {
		t.Fatal(err)
	}
	node := &runtime.Node{Name: "q", Tags: []string{"db"}}
	var holding, most, done atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		st := []*Store{s1, s2}[i%2]
		l := &Limiter{Store: st, RunID: fmt.Sprintf("run%d", i%3), Lease: 5 * time.Second}
		wg.Go(func() {
			c := &runtime.Call{Node: node, TaskRun: fmt.Sprintf("q[%d]", i)}
			release, err := l.Acquire(ctx, c)
			if err != nil {
				t.Error(err)
				return
			}
			n := holding.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			holding.Add(-1)
			release()
			done.Add(1)
		})
	}
	wg.Wait()
	if most.Load() != 2 || done.Load() != 12 {
		t.Errorf("at most %d held at once (want 2), %d of 12 done", most.Load(), done.Load())
	}
	if n := used(t, s1, "db"); n != 0 {
		t.Errorf("%d slots left in use", n)
	}
}

// TestSlotsCancelWhileWaiting: a waiter whose context ends stops waiting
// with its error and holds nothing.
func TestSlotsCancelWhileWaiting(t *testing.T) {
	s, _ := onSQLite.open(t)
	ctx := context.Background()
	if err := s.PutLimit(ctx, "db", 0); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	l := &Limiter{Store: s, RunID: "r"}
	_, err := l.Acquire(cctx, &runtime.Call{Node: &runtime.Node{Tags: []string{"db"}}, TaskRun: "q"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want %v", err, context.DeadlineExceeded)
	}
	if n := used(t, s, "db"); n != 0 {
		t.Errorf("%d in use", n)
	}
}

// TestMigrateSlotsFromV9: the slots a server's runs held at version 9
// are theirs still after migration 10, with no holder and no lease.
func TestMigrateSlotsFromV9(t *testing.T) {
	path := t.TempDir() + "/wfsh.db"
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	qs := append([]string{}, migrations[:9]...)
	qs = append(qs, `CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version VALUES (9)`,
		`INSERT INTO slots (scope, run_id) VALUES ('tag:db', 'r1'), ('pool:p', 'r1')`)
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	err = s.db.QueryRow(`SELECT count(*) FROM slots WHERE run_id = 'r1' AND holder = '' AND lease_until IS NULL`).Scan(&n)
	if err != nil || n != 2 {
		t.Fatalf("slots of r1 after migration: %d, %v; want 2", n, err)
	}
}

// TestCrashFreesSlots: a run marked Crashed (its process died) frees its
// task runs' slots then, not when their leases lapse; a live run keeps
// its own.
func TestCrashFreesSlots(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	evs := events("dead", runtime.Success)
	recordRun(t, s, "dead", "F", evs[:3], RecorderOptions{})
	recordRun(t, s, "alive", "F", evs[:3], RecorderOptions{})
	if err := s.PutLimit(ctx, "db", 5); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"dead", "alive"} {
		if g, err := s.AcquireSlots(ctx, slotClaim(run, "q", nil, "db"), time.Now()); err != nil || !g.OK {
			t.Fatalf("%+v %v", g, err)
		}
	}
	if _, err := s.db.Exec(`UPDATE runs SET pid = ? WHERE id = 'dead'`, deadPID(t)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := used(t, s, "db"); n != 1 {
		t.Errorf("%d slots in use after the crash of one of two holders, want 1", n)
	}
}

// TestLimiterInExecutor runs tagged task runs through the executor with
// the store's limiter: each attempt holds a slot while its body runs and
// none between attempts; a failed, a retried and a cancelled task run
// leave no slot behind.
func TestLimiterInExecutor(t *testing.T) {
	s, _ := onSQLite.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.PutLimit(ctx, "db", 1); err != nil {
		t.Fatal(err)
	}
	var heldDuring []int
	g := &runtime.Graph{Flow: "F"}
	g.Add(&runtime.Node{Name: "flaky", Task: "flaky", Tags: []string{"db"}, Retries: 2, Trigger: runtime.AllSuccessful,
		Body: runtime.BodyFunc(func(_ context.Context, c *runtime.Call) (runtime.Value, error) {
			heldDuring = append(heldDuring, used(t, s, "db"))
			if c.Attempt < 3 {
				return nil, fmt.Errorf("attempt %d fails", c.Attempt)
			}
			return nil, nil
		})})
	g.Add(&runtime.Node{Name: "broken", Task: "broken", Tags: []string{"db"}, Trigger: runtime.AllSuccessful,
		Body: runtime.BodyFunc(func(context.Context, *runtime.Call) (runtime.Value, error) {
			return nil, fmt.Errorf("always")
		})})
	res := runtime.Run(ctx, g, runtime.Options{RunID: "r", Concurrency: 2, Limiter: &Limiter{Store: s, RunID: "r"}})
	if res.Tasks[0].State != runtime.Success || res.Tasks[0].Attempts != 3 || res.Tasks[1].State != runtime.Failed {
		t.Fatalf("flaky %v after %d attempts, broken %v", res.Tasks[0].State, res.Tasks[0].Attempts, res.Tasks[1].State)
	}
	if fmt.Sprint(heldDuring) != "[1 1 1]" {
		t.Errorf("slots in use during each attempt: %v, want [1 1 1]", heldDuring)
	}
	if n := used(t, s, "db"); n != 0 {
		t.Errorf("%d slots left after the run", n)
	}

	// Cancelled while one body runs and another waits for its slot.
	started := make(chan struct{})
	g = &runtime.Graph{Flow: "F"}
	for _, name := range []string{"a", "b"} {
		g.Add(&runtime.Node{Name: name, Task: name, Tags: []string{"db"}, Trigger: runtime.AllSuccessful,
			Body: runtime.BodyFunc(func(ctx context.Context, _ *runtime.Call) (runtime.Value, error) {
				started <- struct{}{}
				<-ctx.Done()
				return nil, ctx.Err()
			})})
	}
	go func() {
		<-started
		time.Sleep(50 * time.Millisecond) // the other waits meanwhile
		cancel()
	}()
	res = runtime.Run(ctx, g, runtime.Options{RunID: "r2", Concurrency: 2, Limiter: &Limiter{Store: s, RunID: "r2"}})
	if res.State != runtime.Cancelled {
		t.Errorf("run %v, want Cancelled", res.State)
	}
	if n := used(t, s, "db"); n != 0 {
		t.Errorf("%d slots left after the cancelled run", n)
	}
}

// TestLimiterHandsOn: the task runs of one run under a limit of 2 hand
// their rows on to each other in memory: never more than 2 hold one, the
// store is asked for far fewer slots than there are attempts, and no row
// is left at the end.
func TestLimiterHandsOn(t *testing.T) {
	s, _ := onSQLite.open(t)
	ctx := context.Background()
	l := &Limiter{Store: s, RunID: "r", Flow: map[string]int{"db": 2}}
	node := &runtime.Node{Name: "q", Tags: []string{"db"}}
	var holding, most atomic.Int32
	before := holderSeq.Load()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				release, err := l.Acquire(ctx, &runtime.Call{Node: node, TaskRun: fmt.Sprintf("q[%d]", i*50+j)})
				if err != nil {
					t.Error(err)
					return
				}
				n := holding.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(100 * time.Microsecond)
				holding.Add(-1)
				release()
			}
		})
	}
	wg.Wait()
	if most.Load() != 2 {
		t.Errorf("at most %d held at once, want 2", most.Load())
	}
	// Without hand-overs each attempt would ask at least once (400);
	// those that find their run's rows all in use wait for one instead.
	asked := holderSeq.Load() - before
	if asked > 200 {
		t.Errorf("the store was asked for a slot %d times for 400 attempts, want far fewer", asked)
	}
	t.Logf("the store was asked %d times for 400 attempts", asked)
	var rows int
	if err := s.db.QueryRow(`SELECT count(*) FROM slots`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d rows left (%v)", rows, err)
	}
}

// TestLimiterTakesTurns: a run whose task runs keep a limit of 1 busy
// gives its slot back after SlotTurn, so a task run of another run
// waiting for it runs within a few turns, not once the busy run is done.
func TestLimiterTakesTurns(t *testing.T) {
	s, _ := onSQLite.open(t)
	ctx := context.Background()
	if err := s.PutLimit(ctx, "db", 1); err != nil {
		t.Fatal(err)
	}
	node := &runtime.Node{Name: "q", Tags: []string{"db"}}
	busy := &Limiter{Store: s, RunID: "busy"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var holding, most atomic.Int32
	attempt := func(ctx context.Context, l *Limiter, name string) error {
		release, err := l.Acquire(ctx, &runtime.Call{Node: node, TaskRun: name})
		if err != nil {
			return err
		}
		n := holding.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		holding.Add(-1)
		release()
		return nil
	}
	for i := range 4 {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := attempt(ctx, busy, fmt.Sprintf("q[%d]", i*100000+j)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // the busy run holds the slot
	t0 := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := attempt(wctx, &Limiter{Store: s, RunID: "other"}, "q")
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("the other run's task run got no slot in %v while the busy run went on: %v", took, err)
	}
	if took > 3*SlotTurn {
		t.Errorf("the other run's task run waited %v while the busy run went on, want within a few turns of %v", took, SlotTurn)
	}
	if most.Load() != 1 {
		t.Errorf("%d held at once under a limit of 1", most.Load())
	}
	t.Logf("the other run got the slot after %v", took)
}
