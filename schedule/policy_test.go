package schedule

import (
	"strings"
	"testing"
	"time"
)

// fakeClock is the time a scheduler would read; tests move it by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func hourly(t *testing.T) *Schedule {
	s, err := Cron("0 * * * *", true, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func times(ts []time.Time) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.UTC().Format(time.RFC3339))
	}
	return out
}

// A scheduler that handled 10:00 on 1 March is down for three days and
// wakes at 10:00:05 on 4 March.
func TestCatchupAfterOutage(t *testing.T) {
	s := hourly(t)
	last := mustTime(t, "2026-03-01T10:00:00Z")
	clock := &fakeClock{now: mustTime(t, "2026-03-04T10:00:05Z")}

	t.Run("latest", func(t *testing.T) {
		d := Policy{Catchup: CatchupLatest}.DueTimes(s, last, clock.Now())
		if got := times(d.Times); len(got) != 1 || got[0] != "2026-03-04T10:00:00Z" {
			t.Fatalf("due %v, want only the newest", got)
		}
		if d.Skipped != 71 || !d.Handled.Equal(d.Times[0]) {
			t.Fatalf("skipped %d handled %s, want 71 and the newest", d.Skipped, d.Handled)
		}
	})
	t.Run("none", func(t *testing.T) {
		// 10:00 on 4 March is 5 s old: on time, so it runs; the 71 before
		// it were missed and do not.
		d := Policy{Catchup: CatchupNone}.DueTimes(s, last, clock.Now())
		if got := times(d.Times); len(got) != 1 || got[0] != "2026-03-04T10:00:00Z" {
			t.Fatalf("due %v", got)
		}
		if d.Skipped != 71 {
			t.Fatalf("skipped %d, want 71", d.Skipped)
		}
		// Woken 20 s after the hour, even that one is missed.
		late := clock.Now().Add(15 * time.Second)
		d = Policy{Catchup: CatchupNone}.DueTimes(s, last, late)
		if len(d.Times) != 0 || d.Skipped != 72 || d.Handled.UTC().Format(time.RFC3339) != "2026-03-04T10:00:00Z" {
			t.Fatalf("due %v skipped %d handled %s", times(d.Times), d.Skipped, d.Handled)
		}
	})
	t.Run("all, bounded", func(t *testing.T) {
		p := Policy{Catchup: CatchupAll, MaxCatchup: 25}
		var all []time.Time
		l := last
		for i := 0; ; i++ {
			d := p.DueTimes(s, l, clock.Now())
			if len(d.Times) == 0 {
				break
			}
			if len(d.Times) > 25 {
				t.Fatalf("%d runs at once, bound 25", len(d.Times))
			}
			all = append(all, d.Times...)
			l = d.Handled
			clock.Advance(time.Second) // the next wake-up
		}
		if len(all) != 72 {
			t.Fatalf("%d runs caught up, want 72 (11:00 on 1 March to 10:00 on 4 March)", len(all))
		}
		for i, tm := range all {
			if want := last.Add(time.Duration(i+1) * time.Hour); !tm.Equal(want) {
				t.Fatalf("run %d at %s, want %s", i, tm, want)
			}
		}
	})
	t.Run("all, default bound", func(t *testing.T) {
		d := Policy{Catchup: CatchupAll}.DueTimes(s, last, clock.Now())
		if len(d.Times) != DefaultMaxCatchup || !d.Handled.Equal(d.Times[DefaultMaxCatchup-1]) {
			t.Fatalf("%d runs, handled %s", len(d.Times), d.Handled)
		}
	})
}

func TestDueOnTime(t *testing.T) {
	s := hourly(t)
	last := mustTime(t, "2026-03-01T10:00:00Z")
	for _, c := range []Catchup{CatchupLatest, CatchupAll, CatchupNone} {
		p := Policy{Catchup: c}
		if d := p.DueTimes(s, last, mustTime(t, "2026-03-01T10:59:59Z")); len(d.Times) != 0 || !d.Handled.IsZero() {
			t.Errorf("%s: before 11:00: due %v", c, times(d.Times))
		}
		d := p.DueTimes(s, last, mustTime(t, "2026-03-01T11:00:00Z"))
		if got := times(d.Times); len(got) != 1 || got[0] != "2026-03-01T11:00:00Z" || d.Skipped != 0 {
			t.Errorf("%s: at 11:00: due %v skipped %d", c, got, d.Skipped)
		}
		if d := p.DueTimes(s, time.Time{}, mustTime(t, "2026-03-01T11:00:00Z")); len(d.Times) != 0 {
			t.Errorf("%s: with nothing handled yet: due %v", c, times(d.Times))
		}
	}
}

// A run that outlasts its interval: the next time comes while it runs.
func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		overlap Overlap
		want    Action
	}{
		{"", ActionStart},
		{OverlapAllow, ActionStart},
		{OverlapSkip, ActionSkip},
		{OverlapQueue, ActionWait},
		{OverlapCancelOther, ActionCancelStart},
	} {
		p := Policy{Overlap: c.overlap}
		if got := p.Decide(1); got != c.want {
			t.Errorf("overlap %q with one run in progress: %s, want %s", c.overlap, got, c.want)
		}
		if got := p.Decide(0); got != ActionStart {
			t.Errorf("overlap %q with nothing running: %s, want start", c.overlap, got)
		}
	}
	for _, bad := range []string{"buffer", "Skip"} {
		if _, err := ParseOverlap(bad); err == nil {
			t.Errorf("overlap %q accepted", bad)
		}
		if _, err := ParseCatchup(bad); err == nil {
			t.Errorf("catchup %q accepted", bad)
		}
	}
	if o, _ := ParseOverlap(""); o != OverlapAllow {
		t.Errorf("default overlap %q", o)
	}
	if c, _ := ParseCatchup(""); c != CatchupLatest {
		t.Errorf("default catchup %q", c)
	}
}

func TestLate(t *testing.T) {
	at := mustTime(t, "2026-03-01T11:00:00Z")
	clock := &fakeClock{now: at}
	def := Policy{}
	clock.Advance(15 * time.Second)
	if def.Late(at, clock.Now()) {
		t.Errorf("late at exactly 15 s")
	}
	clock.Advance(time.Millisecond)
	if !def.Late(at, clock.Now()) {
		t.Errorf("not late after 15 s")
	}
	p := Policy{LateAfter: time.Minute}
	if p.Late(at, clock.Now()) || !p.Late(at, at.Add(61*time.Second)) {
		t.Errorf("late_after=1m not honoured")
	}
}

// simulate drives a policy as a scheduler would, with a fake clock that
// jumps from event to event: an hourly schedule whose runs take 90
// minutes, over six hours from 00:00. It returns, per scheduled time, what
// became of it.
type simRun struct {
	scheduled, started, ended time.Time
	cancelled, skipped, late  bool
}

func simulate(t *testing.T, p Policy) []*simRun {
	t.Helper()
	s := hourly(t)
	const runFor = 90 * time.Minute
	t0 := mustTime(t, "2026-03-01T00:00:00Z")
	end := t0.Add(6 * time.Hour)
	clock := &fakeClock{now: t0}
	last := t0.Add(-time.Nanosecond) // so that 00:00 is due at 00:00
	var all, running, waiting []*simRun
	start := func(r *simRun) {
		r.started = clock.Now()
		r.ended = r.started.Add(runFor)
		r.late = p.Late(r.scheduled, r.started)
		running = append(running, r)
	}
	for !clock.Now().After(end) {
		now := clock.Now()
		// Runs that have ended leave; a waiting run starts in their place.
		kept := running[:0]
		for _, r := range running {
			if r.ended.After(now) {
				kept = append(kept, r)
			}
		}
		running = kept
		for len(waiting) > 0 && len(running) == 0 {
			start(waiting[0])
			waiting = waiting[1:]
		}
		d := p.DueTimes(s, last, now)
		for _, at := range d.Times {
			r := &simRun{scheduled: at}
			all = append(all, r)
			switch p.Decide(len(running) + len(waiting)) {
			case ActionStart:
				start(r)
			case ActionSkip:
				r.skipped = true
			case ActionWait:
				waiting = append(waiting, r)
			case ActionCancelStart:
				for _, o := range running {
					o.cancelled, o.ended = true, now
				}
				running = nil
				start(r)
			}
		}
		if !d.Handled.IsZero() {
			last = d.Handled
		}
		// Sleep until the next event: a scheduled time or a run's end.
		next := s.Next(last)
		for _, r := range running {
			if r.ended.Before(next) {
				next = r.ended
			}
		}
		clock.Advance(next.Sub(now))
	}
	return all
}

func TestOverlapRunOutlastsInterval(t *testing.T) {
	clock := func(tm time.Time) string {
		if tm.IsZero() {
			return "-"
		}
		return tm.UTC().Format("15:04")
	}
	describe := func(rs []*simRun) string {
		var out []string
		for _, r := range rs {
			s := clock(r.scheduled) + ">" + clock(r.started)
			switch {
			case r.skipped:
				s += " skipped"
			case r.cancelled:
				s += " cancelled"
			}
			if r.late {
				s += " late"
			}
			out = append(out, s)
		}
		return strings.Join(out, ", ")
	}
	for _, c := range []struct {
		overlap Overlap
		want    string
	}{
		// Every run starts on time; two run at once from 01:00.
		{OverlapAllow, "00:00>00:00, 01:00>01:00, 02:00>02:00, 03:00>03:00, 04:00>04:00, 05:00>05:00, 06:00>06:00"},
		// A time that comes while the previous run runs is dropped.
		{OverlapSkip, "00:00>00:00, 01:00>- skipped, 02:00>02:00, 03:00>- skipped, 04:00>04:00, 05:00>- skipped, 06:00>06:00"},
		// Each waits for the one before, falls further behind, and is Late.
		{OverlapQueue, "00:00>00:00, 01:00>01:30 late, 02:00>03:00 late, 03:00>04:30 late, 04:00>06:00 late, 05:00>-, 06:00>-"},
		// Each new time cancels the run in progress and starts on time.
		{OverlapCancelOther, "00:00>00:00 cancelled, 01:00>01:00 cancelled, 02:00>02:00 cancelled, 03:00>03:00 cancelled, 04:00>04:00 cancelled, 05:00>05:00 cancelled, 06:00>06:00"},
	} {
		t.Run(string(c.overlap), func(t *testing.T) {
			if got := describe(simulate(t, Policy{Overlap: c.overlap})); got != c.want {
				t.Errorf("overlap=%s:\n got  %s\n want %s", c.overlap, got, c.want)
			}
		})
	}
}

// A year's outage of a one-second interval: the newest time is found
// without walking the year, and the count of skipped times stops at its
// bound.
func TestCatchupLongOutageOfFrequentSchedule(t *testing.T) {
	s, err := Interval("1s", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	last := mustTime(t, "2025-03-01T00:00:00Z")
	now := mustTime(t, "2026-03-01T00:00:00.5Z")
	d := Policy{}.DueTimes(s, last, now)
	if got := times(d.Times); len(got) != 1 || got[0] != "2026-03-01T00:00:00Z" {
		t.Fatalf("due %v", got)
	}
	if d.Skipped != maxCount {
		t.Errorf("skipped %d, want the bound %d", d.Skipped, maxCount)
	}
	d = Policy{Catchup: CatchupAll, MaxCatchup: 3}.DueTimes(s, last, now)
	if got := times(d.Times); len(got) != 3 || got[0] != "2025-03-01T00:00:01Z" || got[2] != "2025-03-01T00:00:03Z" {
		t.Fatalf("catchup=all: due %v", got)
	}
}
