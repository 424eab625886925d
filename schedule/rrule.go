package schedule

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/teambition/rrule-go"
)

// RFC 5545 rules are parsed and expanded by teambition/rrule-go, in wall
// time (a UTC carrier); mapping to instants and the DST rules are ours.

type rruleSpec struct {
	opt  rrule.ROption // Dtstart and Until are wall times carried in UTC
	z    *zone
	fast *fastRule // nil: the rule is expanded by rrule-go only

	mu    sync.Mutex
	batch wallBatch // the last expansion, reused by the next call
}

// A wallBatch is the occurrences of a rule following wall time from, in
// order; done says the rule has none after them.
type wallBatch struct {
	from time.Time
	occ  []time.Time
	done bool
}

// Batches start small (a first call pays for few occurrences) and double
// while calls go forward through them, as a scheduler's do.
const (
	firstBatch = 2
	maxBatch   = 64
)

// covers reports whether the batch holds the first occurrence after c.
func (b *wallBatch) covers(c time.Time) bool {
	if b.occ == nil && !b.done || c.Before(b.from) {
		return false
	}
	return b.done || (len(b.occ) > 0 && c.Before(b.occ[len(b.occ)-1]))
}

// RRule is a schedule from an RFC 5545 recurrence rule, e.g.
// "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9", optionally after a
// "DTSTART:20260101T090000" line. DTSTART, UNTIL and the BY* fields are wall
// times in the schedule's zone; without DTSTART the rule starts at
// DefaultAnchor (so minutes and seconds default to 0).
func RRule(text string, o Options) (*Schedule, error) {
	opt, err := rruleOptions(text)
	if err != nil {
		return nil, err
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	spec := &rruleSpec{opt: opt, z: newZone(loc)}
	spec.fast, _ = newFastRule(opt)
	if spec.next(spec.z.resolve(opt.Dtstart).Add(-time.Second)).IsZero() {
		return nil, fmt.Errorf("rrule %q: matches no time", text)
	}
	return newSchedule(KindRRule, text, "", o, spec.next, Spec{})
}

// rruleOptions parses a rule in wall time, DTSTART defaulting to
// DefaultAnchor, and checks it.
func rruleOptions(text string) (rrule.ROption, error) {
	src := strings.TrimSpace(text)
	if strings.Contains(src, "TZID=") {
		return rrule.ROption{}, fmt.Errorf("rrule %q: give the zone with timezone=, not TZID", text)
	}
	opt, err := rrule.StrToROptionInLocation(src, time.UTC)
	if err != nil {
		return rrule.ROption{}, fmt.Errorf("rrule %q: %v", text, err)
	}
	if opt.Dtstart.IsZero() {
		opt.Dtstart = DefaultAnchor
	}
	if opt.Freq > rrule.MINUTELY {
		return rrule.ROption{}, fmt.Errorf("rrule %q: FREQ=SECONDLY is not a schedule; use interval(\"30s\")", text)
	}
	if _, err := rrule.NewRRule(*opt); err != nil {
		return rrule.ROption{}, fmt.Errorf("rrule %q: %v", text, err)
	}
	// A day that none of the months has would have the expansion search
	// to the year 9999 on every call: refuse it here.
	if len(opt.Bymonthday) > 0 {
		months := opt.Bymonth
		if len(months) == 0 {
			months = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
		}
		some := false
		for _, m := range months {
			for _, d := range opt.Bymonthday {
				if n := daysIn(2000, m); d <= n && -d <= n {
					some = true
				}
			}
		}
		if !some {
			return rrule.ROption{}, fmt.Errorf("rrule %q: matches no time: no month given has the BYMONTHDAY given", text)
		}
	}
	return *opt, nil
}

// next maps occurrences after t's wall time to instants until one lies
// after t. Occurrences at or before t's wall time map to instants at or
// before t, so the search starts just after it. Occurrences come in
// batches, expanded from a start near t (see shifted) and kept for the
// following calls, which a scheduler makes with increasing times.
func (s *rruleSpec) next(t time.Time) time.Time {
	c := s.z.civil(t)
	for {
		w, ok := s.occurrenceAfter(c)
		if !ok {
			return time.Time{}
		}
		if u := s.z.resolve(w); u.After(t) {
			return u
		}
		c = w
	}
}

// occurrenceAfter is the first occurrence strictly after wall time c.
func (s *rruleSpec) occurrenceAfter(c time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.batch.covers(c) {
		n := firstBatch
		if prev := s.batch.occ; len(prev) > 0 && !c.Before(prev[0]) && !c.After(prev[len(prev)-1].Add(prev[len(prev)-1].Sub(s.batch.from))) {
			n = min(2*cap(prev), maxBatch) // going forward: a longer batch
		}
		s.batch = s.expand(c, n)
	}
	occ := s.batch.occ
	i := sort.Search(len(occ), func(i int) bool { return occ[i].After(c) })
	if i == len(occ) {
		return time.Time{}, false
	}
	return occ[i], true
}

// expand lists up to n occurrences after wall time c.
func (s *rruleSpec) expand(c time.Time, n int) wallBatch {
	if s.fast != nil {
		if b, ok := s.fast.expand(c, n); ok {
			return b
		}
	}
	return s.expandSlow(c, n)
}

// expandSlow is expand by rrule-go.
func (s *rruleSpec) expandSlow(c time.Time, n int) wallBatch {
	b := wallBatch{from: c, occ: make([]time.Time, 0, n)}
	r, err := rrule.NewRRule(s.shifted(c))
	if err != nil {
		b.done = true
		return b
	}
	it := r.Iterator()
	for len(b.occ) < n {
		w, ok := it()
		if !ok {
			b.done = true
			break
		}
		if w.After(c) {
			b.occ = append(b.occ, w)
		}
	}
	return b
}

// shifted moves DTSTART forward by whole periods of the rule to just
// before wall time c, so that expansion does not walk from the rule's
// start every time (the cost grows with the age of the rule otherwise).
// The occurrences from the new start are those of the original rule: the
// shift is a multiple of FREQ×INTERVAL, and keeps what the BY* defaults
// take from DTSTART (time of day, weekday, day of month). Rules with COUNT
// are not shifted (the count runs from the real start), nor monthly and
// yearly ones starting after the 28th.
func (s *rruleSpec) shifted(c time.Time) rrule.ROption {
	o := s.opt
	start := o.Dtstart
	if o.Count > 0 || !start.Before(c) {
		return o
	}
	interval := o.Interval
	if interval < 1 {
		interval = 1
	}
	var period time.Duration
	switch o.Freq {
	case rrule.MINUTELY:
		period = time.Minute
	case rrule.HOURLY:
		period = time.Hour
	case rrule.DAILY:
		period = 24 * time.Hour
	case rrule.WEEKLY:
		period = 7 * 24 * time.Hour
	case rrule.MONTHLY, rrule.YEARLY:
		if start.Day() > 28 {
			return o
		}
		months := interval
		if o.Freq == rrule.YEARLY {
			months *= 12
		}
		y1, m1, _ := start.Date()
		y2, m2, _ := c.Date()
		elapsed := (y2-y1)*12 + int(m2-m1)
		k := elapsed/months - 1
		if o.Freq == rrule.YEARLY && len(o.Byweekno) > 0 {
			k-- // week numbers can reach into the previous year
		}
		if k > 0 {
			o.Dtstart = start.AddDate(0, k*months, 0)
		}
		return o
	}
	step := period * time.Duration(interval)
	if k := c.Sub(start)/step - 1; k > 0 {
		o.Dtstart = start.Add(k * step)
	}
	return o
}
