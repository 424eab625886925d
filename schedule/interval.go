package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultAnchor is where an interval without start= counts from:
// 2000-01-01T00:00:00 wall time in the schedule's zone. A fixed anchor keeps
// the times the same across restarts and machines.
var DefaultAnchor = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type intervalSpec struct {
	every time.Duration
	days  int       // > 0: a whole number of days, kept in wall time
	start time.Time // the anchor, an instant
	civil time.Time // the anchor's wall time (for days)
	z     *zone
}

// ParseEvery reads an interval: a Go duration ("90s", "15m", "6h",
// "1h30m") or a whole number of days or weeks ("1d", "7d", "2w").
func ParseEvery(every string) (time.Duration, int, error) {
	e := strings.TrimSpace(every)
	if n := len(e); n > 1 && (e[n-1] == 'd' || e[n-1] == 'w') {
		k, err := strconv.Atoi(e[:n-1])
		if err != nil || k <= 0 {
			return 0, 0, fmt.Errorf("interval %q: want a positive whole number of days or weeks such as \"1d\" or \"2w\", or a duration such as \"6h\"", every)
		}
		if e[n-1] == 'w' {
			k *= 7
		}
		return time.Duration(k) * 24 * time.Hour, k, nil
	}
	d, err := time.ParseDuration(e)
	if err != nil {
		return 0, 0, fmt.Errorf("interval %q: want a duration such as \"90s\", \"15m\", \"6h\" or \"1d\"", every)
	}
	if d <= 0 {
		return 0, 0, fmt.Errorf("interval %q: must be positive", every)
	}
	if d < time.Second {
		return 0, 0, fmt.Errorf("interval %q: shorter than a second; a schedule runs at most once a second", every)
	}
	if d%(24*time.Hour) == 0 {
		return d, int(d / (24 * time.Hour)), nil
	}
	return d, 0, nil
}

// ParseStart reads an anchor: RFC 3339 ("2020-11-30T00:00:00Z") is that
// instant; a wall time without offset ("2020-11-30T00:00:00",
// "2020-11-30") is in loc, by the DST rules.
func ParseStart(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if c, err := time.Parse(layout, s); err == nil {
			return newZone(loc).resolve(c), nil
		}
	}
	return time.Time{}, fmt.Errorf("start %q: want RFC 3339 (2020-11-30T00:00:00Z) or a wall time in the schedule's zone (2020-11-30T00:00:00)", s)
}

// Interval is a schedule every `every` from the anchor start ("" is
// DefaultAnchor in the zone). A whole number of days keeps the anchor's
// wall time across DST changes; anything shorter is an exact duration.
func Interval(every, start string, o Options) (*Schedule, error) {
	d, days, err := ParseEvery(every)
	if err != nil {
		return nil, err
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	z := newZone(loc)
	var anchor time.Time
	if start == "" {
		anchor = z.resolve(DefaultAnchor)
	} else if anchor, err = ParseStart(start, loc); err != nil {
		return nil, err
	}
	spec := &intervalSpec{every: d, days: days, start: anchor, civil: z.civil(anchor), z: z}
	detail := ""
	if start != "" {
		detail = fmt.Sprintf("start=%q", start)
	}
	return newSchedule(KindInterval, every, detail, o, spec.next, Spec{Start: start})
}

func (s *intervalSpec) next(t time.Time) time.Time {
	if t.Before(s.start) {
		return s.start.In(s.z.loc)
	}
	if s.days == 0 {
		k := t.Sub(s.start)/s.every + 1
		return s.start.Add(k * s.every).In(s.z.loc)
	}
	// Whole days: the k-th time is the anchor's wall time k*days later.
	// Estimate k from elapsed time (DST moves it by at most hours), back
	// off one step and go forward to the first instant after t.
	k := int(t.Sub(s.start)/s.every) - 1
	if k < 0 {
		k = 0
	}
	for ; ; k++ {
		if u := s.z.resolve(s.civil.AddDate(0, 0, k*s.days)); u.After(t) {
			return u
		}
	}
}
