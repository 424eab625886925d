package schedule

import (
	"slices"
	"time"

	"github.com/teambition/rrule-go"
)

// The common rules (hourly ones without INTERVAL, daily, weekly and
// monthly ones, filtered by month,
// day of month, weekday, nth weekday of the month and time of day) are
// expanded here, day by day from the asked time, without rrule-go: its
// expansion sets up a whole year of tables first (13-19 µs for a rule's
// first call). Rules with COUNT, BYSETPOS, BYYEARDAY, BYWEEKNO or
// BYEASTER, hourly ones with INTERVAL, minutely and yearly ones, go to
// rrule-go; so does
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
	switch {
	case o.Freq == rrule.DAILY, o.Freq == rrule.WEEKLY, o.Freq == rrule.MONTHLY:
	case o.Freq == rrule.HOURLY && max(o.Interval, 1) == 1: // every hour of the day that matches
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
	switch {
	case len(hours) > 0:
	case o.Freq == rrule.HOURLY:
		for h := range 24 {
			hours = append(hours, h)
		}
	default:
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

// civilDay is a date walked one day at a time without the time
// package: y, m, d, the weekday (0 Monday) and the month's length.
type civilDay struct{ y, m, d, wd, last int }

func civilOf(t time.Time) civilDay {
	y, m, d := t.Date()
	return civilDay{y, int(m), d, mondayFirst(t.Weekday()), daysIn(y, int(m))}
}

func (c *civilDay) next() {
	c.wd = (c.wd + 1) % 7
	if c.d++; c.d > c.last {
		c.d = 1
		if c.m++; c.m > 12 {
			c.m, c.y = 1, c.y+1
		}
		c.last = daysIn(c.y, c.m)
	}
}

// skipMonth moves to the month's last day, so that next() goes to the
// next month's first.
func (c *civilDay) skipMonth() {
	c.wd = (c.wd + c.last - c.d) % 7
	c.d = c.last
}

// expand lists up to n occurrences strictly after wall time c; ok is
// false when none was found within fastDays (the caller asks rrule-go).
func (f *fastRule) expand(c time.Time, n int) (b wallBatch, ok bool) {
	b = wallBatch{from: c, occ: make([]time.Time, 0, n)}
	from := c
	if f.start.After(from) {
		from = f.start.Add(-time.Nanosecond) // occurrences start at DTSTART
	}
	day := civilOf(from)
	dayNo := f.daysFromStart(from) // days since DTSTART's date
	for i := 0; i < fastDays && len(b.occ) < n; i, dayNo = i+1, dayNo+1 {
		if i > 0 {
			day.next()
		}
		if !f.anyMonth && !f.months[day.m] {
			dayNo += day.last - day.d
			day.skipMonth()
			continue
		}
		if !f.dayMatches(&day, dayNo) {
			continue
		}
		midnight := time.Date(day.y, time.Month(day.m), day.d, 0, 0, 0, 0, time.UTC)
		if !f.until.IsZero() && midnight.After(f.until) {
			b.done = true
			return b, true
		}
		for _, s := range f.times {
			t := midnight.Add(time.Duration(s) * time.Second)
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
	if !f.until.IsZero() && len(b.occ) < n {
		// Past UNTIL within the days searched: nothing more.
		y, m, d := f.until.Date()
		if civilBefore(civilDay{y: y, m: int(m), d: d}, day) {
			b.done = true
			return b, true
		}
	}
	return b, len(b.occ) > 0
}

func civilBefore(a, b civilDay) bool {
	return a.y < b.y || a.y == b.y && (a.m < b.m || a.m == b.m && a.d < b.d)
}

// daysFromStart is the number of days from DTSTART's date to t's.
func (f *fastRule) daysFromStart(t time.Time) int {
	sy, sm, sd := f.start.Date()
	ty, tm, td := t.Date()
	return int(time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC).Sub(time.Date(sy, sm, sd, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}

// dayMatches reports whether the rule has occurrences on day, dayNo days
// after DTSTART's date.
func (f *fastRule) dayMatches(day *civilDay, dayNo int) bool {
	if !f.inPeriod(day, dayNo) {
		return false
	}
	if len(f.mdays) > 0 && !slices.ContainsFunc(f.mdays, func(md int) bool { return md == day.d || md < 0 && day.last+1+md == day.d }) {
		return false
	}
	if !f.byDay || f.wdays[day.wd] {
		return true
	}
	for _, x := range f.nth {
		if x.wday != day.wd {
			continue
		}
		if x.n > 0 && (day.d-1)/7+1 == x.n || x.n < 0 && (day.last-day.d)/7+1 == -x.n {
			return true
		}
	}
	return false
}

// inPeriod reports whether day lies in a period the rule's INTERVAL
// keeps, counted from DTSTART's period.
func (f *fastRule) inPeriod(day *civilDay, dayNo int) bool {
	if f.interval == 1 {
		return true
	}
	switch f.freq {
	case rrule.DAILY:
		return dayNo%f.interval == 0
	case rrule.WEEKLY:
		// Weeks begin on WKST: count from the start of DTSTART's week.
		startWd := mondayFirst(f.start.Weekday())
		return (dayNo+(startWd-f.wkst+7)%7)/7%f.interval == 0
	}
	sy, sm, _ := f.start.Date()
	return ((day.y-sy)*12+day.m-int(sm))%f.interval == 0
}
