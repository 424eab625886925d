package schedule

import (
	"math"
	"sync"
	"time"
)

// A zone answers "what is the UTC offset at this instant" for one
// location, remembering the last few periods between changes: a lookup
// through the time package costs several times a UTC one (measured 880
// against 105 ns for Europe/Berlin), resolving one wall time takes six,
// and a schedule asks about the same few months over and over.
type zone struct {
	loc *time.Location

	mu      sync.Mutex
	periods [4]period
	n       int // periods filled
	next    int // the slot to fill next
}

// A period is [start, end) in Unix seconds with one offset.
type period struct {
	start, end int64
	off        int
}

func newZone(loc *time.Location) *zone { return &zone{loc: loc} }

// offset is the UTC offset in seconds at Unix second u.
func (z *zone) offset(u int64) int {
	if z.loc == time.UTC {
		return 0
	}
	return z.period(u).off
}

func (z *zone) period(u int64) period {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, p := range z.periods[:z.n] {
		if p.start <= u && u < p.end {
			return p
		}
	}
	t := time.Unix(u, 0).In(z.loc)
	_, off := t.Zone()
	p := period{start: math.MinInt64, end: math.MaxInt64, off: off}
	if s, e := t.ZoneBounds(); !s.IsZero() || !e.IsZero() {
		if !s.IsZero() {
			p.start = s.Unix()
		}
		if !e.IsZero() {
			p.end = e.Unix()
		}
	}
	z.periods[z.next] = p
	z.next = (z.next + 1) % len(z.periods)
	z.n = min(z.n+1, len(z.periods))
	return p
}

// civil is t's wall time carried in a UTC time.Time, so that arithmetic on
// it is plain calendar arithmetic with no zone in the way.
func (z *zone) civil(t time.Time) time.Time {
	return time.Unix(t.Unix()+int64(z.offset(t.Unix())), int64(t.Nanosecond())).UTC()
}

// resolve maps the wall time c (carried in UTC) to an instant by the DST
// rules: the first occurrence of a repeated wall time, the first instant
// after the gap for a skipped one.
func (z *zone) resolve(c time.Time) time.Time {
	if z.loc == time.UTC {
		return c
	}
	cs := c.Unix()
	var best int64
	found := false
	// The offsets in effect near c: a wall time is at most a day's worth
	// of offset away from its instant, and changes are months apart.
	for _, probe := range [...]int64{cs - 86400, cs, cs + 86400} {
		off := int64(z.offset(probe))
		u := cs - off
		if int64(z.offset(u)) == off && (!found || u < best) {
			best, found = u, true
		}
	}
	if !found {
		// In a gap: with the offset from before the change the instant
		// lies after the change; the period there starts at the change.
		before := int64(z.offset(cs - 86400))
		best = z.period(cs - before).start
	}
	return time.Unix(best, int64(c.Nanosecond())).In(z.loc)
}
