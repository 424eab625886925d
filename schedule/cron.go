package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// The cron fields are parsed by robfig/cron (5 fields and the @ macros);
// matching against wall-clock times and the DST rules are ours.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

const starBit = 1 << 63 // robfig/cron's mark of a "*" or "?" field

type cronSpec struct {
	minute, hour, dom, month, dow uint64
	dayOr                         bool
	z                             *zone
}

// Cron is a schedule from a 5-field cron expression ("0 2 * * *") or a macro
// (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly).
// With dayOr (the default of cron and Prefect) a day matches when either
// the day-of-month or the day-of-week field matches, if neither is "*";
// without it both must match.
func Cron(expr string, dayOr bool, o Options) (*Schedule, error) {
	spec, err := parseCron(expr)
	if err != nil {
		return nil, err
	}
	spec.dayOr = dayOr
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	spec.z = newZone(loc)
	if spec.next(DefaultAnchor).IsZero() {
		return nil, fmt.Errorf("cron %q: matches no day (a day of the month that the months given do not have?)", expr)
	}
	detail, sp := "", Spec{}
	if !dayOr {
		detail, sp.DayOr = "day_or=False", new(false)
	}
	return newSchedule(KindCron, expr, detail, o, spec.next, sp)
}

func parseCron(expr string) (*cronSpec, error) {
	e := strings.TrimSpace(expr)
	switch {
	case e == "":
		return nil, fmt.Errorf("cron: empty expression; want 5 fields: minute hour day-of-month month day-of-week")
	case strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ="):
		return nil, fmt.Errorf("cron %q: give the zone with timezone=, not in the expression", expr)
	case strings.HasPrefix(e, "@every"):
		return nil, fmt.Errorf("cron %q: use interval(...) for a fixed period", expr)
	}
	if !strings.HasPrefix(e, "@") {
		if n := len(strings.Fields(e)); n != 5 {
			return nil, fmt.Errorf("cron %q: %d fields, want 5: minute hour day-of-month month day-of-week", expr, n)
		}
	}
	if f := strings.Fields(e); len(f) == 5 {
		f[4] = sundaySeven(f[4])
		e = strings.Join(f, " ")
	}
	s, err := cronParser.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v", expr, err)
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("cron %q: not a calendar expression", expr)
	}
	return &cronSpec{minute: ss.Minute, hour: ss.Hour, dom: ss.Dom, month: ss.Month, dow: ss.Dow}, nil
}

// sundaySeven lets the day-of-week field name Sunday 7 as well as 0, as
// cron and Prefect do: "7" becomes "0", a range ending at 7 ends at 6 and
// adds 0 when its step reaches 7 ("5-7" is "5-6,0").
func sundaySeven(field string) string {
	items := strings.Split(field, ",")
	for i, it := range items {
		rng, step, hasStep := strings.Cut(it, "/")
		lo, hi, isRange := strings.Cut(rng, "-")
		switch {
		case it == "7":
			items[i] = "0"
		case isRange && hi == "7":
			a, errA := strconv.Atoi(lo)
			k := 1
			if hasStep {
				var err error
				if k, err = strconv.Atoi(step); err != nil || k < 1 {
					continue // robfig/cron reports it
				}
			}
			if errA != nil || a < 0 || a > 7 {
				continue
			}
			items[i] = lo + "-6"
			if hasStep {
				items[i] += "/" + step
			}
			if a == 7 {
				items[i] = "0"
			} else if (7-a)%k == 0 {
				items[i] += ",0"
			}
		}
	}
	return strings.Join(items, ",")
}

func (s *cronSpec) dayMatches(y, mo, d int) bool {
	dom := s.dom&(1<<uint(d)) != 0
	dow := s.dow&(1<<uint(weekday(y, mo, d))) != 0
	if !s.dayOr || s.dom&starBit != 0 || s.dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// next finds the first wall time after t's that matches and maps to an
// instant after t. Wall times map to instants monotonically, so the search
// goes forward in wall time and stops at the first instant past t.
func (s *cronSpec) next(t time.Time) time.Time {
	c := s.z.civil(t).Truncate(time.Minute).Add(time.Minute)
	y, mo, d := c.Date()
	w := wall{y, int(mo), d, c.Hour(), c.Minute()}
	limit := y + 9 // covers 29 February across a century year that is not a leap year
	for {
		var ok bool
		if w, ok = s.nextWall(w, limit); !ok {
			return time.Time{}
		}
		if u := s.z.resolve(time.Date(w.y, time.Month(w.mo), w.d, w.h, w.mi, 0, 0, time.UTC)); u.After(t) {
			return u
		}
		w.mi++ // normalized by nextWall
	}
}

// wall is a wall-clock time to the minute; nextWall normalizes overflowing
// minutes, hours and days.
type wall struct{ y, mo, d, h, mi int }

// nextWall is the first matching wall time at or after w, if there is one
// before the end of year limit. It jumps field by field to the next set bit.
func (s *cronSpec) nextWall(w wall, limit int) (wall, bool) {
	for w.y <= limit {
		if w.mi > 59 {
			w.h, w.mi = w.h+1, 0
		}
		if w.h > 23 {
			w.d, w.h, w.mi = w.d+1, 0, 0
		}
		if w.d > daysIn(w.y, w.mo) {
			w.mo, w.d, w.h, w.mi = w.mo+1, 1, 0, 0
		}
		if w.mo > 12 {
			w = wall{w.y + 1, 1, 1, 0, 0}
			continue
		}
		if m := nextBit(s.month, w.mo, 12); m != w.mo {
			if m < 0 {
				w = wall{w.y + 1, 1, 1, 0, 0}
			} else {
				w = wall{w.y, m, 1, 0, 0}
			}
			continue
		}
		if !s.dayMatches(w.y, w.mo, w.d) {
			w.d, w.h, w.mi = w.d+1, 0, 0
			continue
		}
		if h := nextBit(s.hour, w.h, 23); h != w.h {
			if h < 0 {
				w.d, w.h, w.mi = w.d+1, 0, 0
			} else {
				w.h, w.mi = h, 0
			}
			continue
		}
		mi := nextBit(s.minute, w.mi, 59)
		if mi < 0 {
			w.h, w.mi = w.h+1, 0
			continue
		}
		w.mi = mi
		return w, true
	}
	return wall{}, false
}

// nextBit is the lowest set bit of mask at or after from and at most max,
// or -1.
func nextBit(mask uint64, from, max int) int {
	m := mask &^ starBit &^ (1<<uint(from) - 1)
	if m == 0 {
		return -1
	}
	if b := bits.TrailingZeros64(m); b <= max {
		return b
	}
	return -1
}

func daysIn(y, mo int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// weekday of a proleptic Gregorian date, 0 = Sunday (Sakamoto's method).
func weekday(y, mo, d int) int {
	t := [...]int{0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4}
	if mo < 3 {
		y--
	}
	return (y + y/4 - y/100 + y/400 + t[mo-1] + d) % 7
}
