package schedule

import (
	"slices"
	"time"

	"github.com/teambition/rrule-go"
)

// The common rules (daily, weekly and monthly ones, filtered by month,
// day of month, weekday, nth weekday of the month and time of day) are
// expanded here, day by day from the asked time, without rrule-go: its
// expansion sets up a whole year of tables first (13-19 µs for a rule's
// first call). Rules with COUNT, BYSETPOS, BYYEARDAY, BYWEEKNO or
// BYEASTER, and hourly, minutely and yearly ones, go to rrule-go; so does
// a rule with no occurrence within fastDays of the asked time. The
// property test in rrule_fast_test.go compares both on many rules.

// fastRule is a rule the day-by-day expansion handles.
type fastRule struct {
	freq     rrule.Frequency
	interval int
	start    time.Time // DTSTART, wall time
	until    time.Time // zero: none
	wkst     int       // 0 Monday ... 6 Sunday
	months   [13]bool  // by month; all false: any
	anyMonth bool
	mdays    []int      // BYMONTHDAY (negative from the month's end)
	wdays    [7]bool    // plain BYDAY (0 Monday)
	nth      []rruleNth // BYDAY with an ordinal (monthly)
	byDay    bool       // wdays or nth given
	times    []int      // seconds of the day, sorted
}

type rruleNth struct{ n, wday int }

// fastDays bounds the days searched for the next occurrence (four years:
// a leap day's rule finds its day).
const fastDays = 4*365 + 1

// newFastRule returns the rule o if the day-by-day expansion handles it.
func newFastRule(o rrule.ROption) (*fastRule, bool) {
	if o.Count > 0 || len(o.Bysetpos) > 0 || len(o.Byyearday) > 0 || len(o.Byweekno) > 0 || len(o.Byeaster) > 0 {
		return nil, false
	}
	switch o.Freq {
	case rrule.DAILY, rrule.WEEKLY, rrule.MONTHLY:
	default:
		return nil, false
	}
	f := &fastRule{freq: o.Freq, interval: max(o.Interval, 1), start: o.Dtstart, until: o.Until, wkst: o.Wkst.Day()}
	f.anyMonth = len(o.Bymonth) == 0
	for _, m := range o.Bymonth {
		f.months[m] = true
	}
	f.mdays = o.Bymonthday
	for _, wd := range o.Byweekday {
		f.byDay = true
		if wd.N() == 0 || o.Freq != rrule.MONTHLY {
			f.wdays[wd.Day()] = true
		} else {
			f.nth = append(f.nth, rruleNth{wd.N(), wd.Day()})
		}
	}
	// The defaults rrule-go takes from DTSTART.
	switch {
	case f.byDay || len(f.mdays) > 0:
	case o.Freq == rrule.WEEKLY:
		f.byDay = true
		f.wdays[mondayFirst(o.Dtstart.Weekday())] = true
	case o.Freq == rrule.MONTHLY:
		f.mdays = []int{o.Dtstart.Day()}
	}
	hours, minutes, seconds := o.Byhour, o.Byminute, o.Bysecond
	if len(hours) == 0 {
		hours = []int{o.Dtstart.Hour()}
	}
	if len(minutes) == 0 {
		minutes = []int{o.Dtstart.Minute()}
	}
	if len(seconds) == 0 {
		seconds = []int{o.Dtstart.Second()}
	}
	for _, h := range hours {
		for _, m := range minutes {
			for _, s := range seconds {
				f.times = append(f.times, h*3600+m*60+s)
			}
		}
	}
	slices.Sort(f.times)
	f.times = slices.Compact(f.times)
	return f, true
}

func mondayFirst(d time.Weekday) int { return (int(d) + 6) % 7 }

// expand lists up to n occurrences strictly after wall time c; ok is
// false when none was found within fastDays (the caller asks rrule-go).
func (f *fastRule) expand(c time.Time, n int) (b wallBatch, ok bool) {
	b = wallBatch{from: c, occ: make([]time.Time, 0, n)}
	from := c
	if f.start.After(from) {
		from = f.start.Add(-time.Nanosecond) // occurrences start at DTSTART
	}
	y, m, d := from.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	for i := 0; i < fastDays && len(b.occ) < n; i, day = i+1, day.AddDate(0, 0, 1) {
		if !f.until.IsZero() && day.After(f.until) {
			b.done = true
			return b, true
		}
		if !f.dayMatches(day) {
			continue
		}
		for _, s := range f.times {
			t := day.Add(time.Duration(s) * time.Second)
			if !t.After(from) {
				continue
			}
			if !f.until.IsZero() && t.After(f.until) {
				b.done = true
				return b, true
			}
			b.occ = append(b.occ, t)
			if len(b.occ) == n {
				break
			}
		}
	}
	return b, len(b.occ) > 0
}

// dayMatches reports whether the rule has occurrences on day (midnight).
func (f *fastRule) dayMatches(day time.Time) bool {
	y, m, d := day.Date()
	if !f.anyMonth && !f.months[m] {
		return false
	}
	if !f.inPeriod(day) {
		return false
	}
	last := daysIn(y, int(m))
	if len(f.mdays) > 0 && !slices.ContainsFunc(f.mdays, func(md int) bool { return md == d || md < 0 && last+1+md == d }) {
		return false
	}
	if !f.byDay {
		return true
	}
	wd := mondayFirst(day.Weekday())
	if f.wdays[wd] {
		return true
	}
	for _, x := range f.nth {
		if x.wday != wd {
			continue
		}
		if x.n > 0 && (d-1)/7+1 == x.n || x.n < 0 && (last-d)/7+1 == -x.n {
			return true
		}
	}
	return false
}

// inPeriod reports whether day lies in a period the rule's INTERVAL
// keeps, counted from DTSTART's period.
func (f *fastRule) inPeriod(day time.Time) bool {
	if f.interval == 1 {
		return true
	}
	sy, sm, sd := f.start.Date()
	start := time.Date(sy, sm, sd, 0, 0, 0, 0, time.UTC)
	switch f.freq {
	case rrule.DAILY:
		return int(day.Sub(start).Hours()/24)%f.interval == 0
	case rrule.WEEKLY:
		week := func(t time.Time) time.Time {
			return t.AddDate(0, 0, -((mondayFirst(t.Weekday()) - f.wkst + 7) % 7))
		}
		return int(week(day).Sub(week(start)).Hours()/(24*7))%f.interval == 0
	}
	y, m, _ := day.Date()
	return ((y-sy)*12+int(m-sm))%f.interval == 0
}
