package schedule

import (
	"fmt"
	"time"
)

// Catchup says which scheduled times missed while nothing was running are
// still run.
type Catchup string

const (
	// CatchupLatest runs one run for the newest missed time (the default).
	CatchupLatest Catchup = "latest"
	// CatchupAll runs every missed time, oldest first (Airflow's catchup).
	CatchupAll Catchup = "all"
	// CatchupNone runs no missed time.
	CatchupNone Catchup = "none"
)

// Overlap says what a new scheduled time does while the previous run of
// the same flow still runs.
type Overlap string

const (
	OverlapAllow       Overlap = "allow"        // start it alongside (the default)
	OverlapSkip        Overlap = "skip"         // do not run it
	OverlapQueue       Overlap = "queue"        // run it when the running one ends
	OverlapCancelOther Overlap = "cancel_other" // cancel the running one, start it
)

// Defaults of the policy.
const (
	DefaultLateAfter  = 15 * time.Second
	DefaultMaxCatchup = 10
)

// ParseCatchup checks a catchup= value; "" is the default.
func ParseCatchup(s string) (Catchup, error) {
	switch c := Catchup(s); c {
	case "":
		return CatchupLatest, nil
	case CatchupLatest, CatchupAll, CatchupNone:
		return c, nil
	}
	return "", fmt.Errorf("catchup %q: want \"latest\", \"all\" or \"none\"", s)
}

// ParseOverlap checks an overlap= value; "" is the default.
func ParseOverlap(s string) (Overlap, error) {
	switch o := Overlap(s); o {
	case "":
		return OverlapAllow, nil
	case OverlapAllow, OverlapSkip, OverlapQueue, OverlapCancelOther:
		return o, nil
	}
	return "", fmt.Errorf("overlap %q: want \"allow\", \"skip\", \"queue\" or \"cancel_other\"", s)
}

// Policy is how a flow's scheduled times become runs.
type Policy struct {
	Catchup Catchup
	// MaxCatchup bounds how many runs one Due call returns under
	// CatchupAll; the rest come from the following calls. 0 is
	// DefaultMaxCatchup.
	MaxCatchup int
	Overlap    Overlap
	// LateAfter: a run not started this long after its scheduled time is
	// Late (it still runs). It is also the grace within which a time is
	// due rather than missed. 0 is DefaultLateAfter.
	LateAfter time.Duration
}

func (p Policy) lateAfter() time.Duration {
	if p.LateAfter <= 0 {
		return DefaultLateAfter
	}
	return p.LateAfter
}

// Due is what a scheduler does at one wake-up.
type Due struct {
	// Times to create runs for, oldest first.
	Times []time.Time
	// Skipped counts the missed times that catch-up drops (at most
	// 100,000).
	Skipped int
	// Handled is the newest scheduled time this decision covers (run or
	// skipped): the caller records it and passes it as last next time.
	// Zero when nothing was handled.
	Handled time.Time
}

// DueTimes decides which scheduled times of s are due at now, given last,
// the newest scheduled time already handled (zero: none yet, the schedule
// starts at now). Times in (last, now] within LateAfter of now are on time
// and always due; older ones were missed (the scheduler was down) and go
// by Catchup: all (oldest first, at most MaxCatchup per call), latest (only
// the newest time, missed or not), none (only the on-time ones).
func (p Policy) DueTimes(s *Schedule, last, now time.Time) Due {
	if last.IsZero() {
		return Due{}
	}
	grace := p.lateAfter()
	var times []time.Time
	switch p.Catchup {
	case CatchupAll:
		max := p.MaxCatchup
		if max <= 0 {
			max = DefaultMaxCatchup
		}
		for t := s.Next(last); !t.IsZero() && !t.After(now); t = s.Next(t) {
			times = append(times, t)
			if len(times) == max {
				break
			}
		}
		d := Due{Times: times}
		if len(times) > 0 {
			d.Handled = times[len(times)-1]
		}
		return d
	case CatchupNone:
		from := last
		if cut := now.Add(-grace); cut.After(from) {
			from = cut.Add(-time.Nanosecond) // keep a time exactly at the cut
		}
		for t := s.Next(from); !t.IsZero() && !t.After(now); t = s.Next(t) {
			times = append(times, t)
		}
		newest := newestBefore(s, last, now)
		d := Due{Times: times, Handled: newest, Skipped: countBetween(s, last, from)}
		return d
	default: // latest
		newest := newestBefore(s, last, now)
		if newest.IsZero() {
			return Due{}
		}
		return Due{Times: []time.Time{newest}, Handled: newest, Skipped: countBetween(s, last, newest.Add(-time.Nanosecond))}
	}
}

// newestBefore is the newest scheduled time in (last, now], or zero. It
// searches back from now in growing windows, so that a long outage of a
// frequent schedule costs little.
func newestBefore(s *Schedule, last, now time.Time) time.Time {
	for w := time.Minute; ; w *= 8 {
		from := now.Add(-w)
		if !from.After(last) {
			from = last
		}
		var newest time.Time
		for t := s.Next(from); !t.IsZero() && !t.After(now); t = s.Next(t) {
			newest = t
		}
		if !newest.IsZero() || from.Equal(last) {
			return newest
		}
	}
}

// maxCount bounds Due.Skipped: counting a year of a one-second interval
// is not worth its time.
const maxCount = 100_000

// countBetween counts scheduled times in (from, to], at most maxCount.
func countBetween(s *Schedule, from, to time.Time) int {
	n := 0
	for t := s.Next(from); !t.IsZero() && !t.After(to) && n < maxCount; t = s.Next(t) {
		n++
	}
	return n
}

// Action is what to do with a due run given the runs of the same flow
// still in progress.
type Action string

const (
	ActionStart       Action = "start"        // start it now
	ActionSkip        Action = "skip"         // record it skipped, do not run it
	ActionWait        Action = "wait"         // keep it until the running ones end
	ActionCancelStart Action = "cancel_start" // cancel the running ones, then start it
)

// Decide applies the overlap policy: running is how many runs of the same
// flow are in progress.
func (p Policy) Decide(running int) Action {
	if running <= 0 {
		return ActionStart
	}
	switch p.Overlap {
	case OverlapSkip:
		return ActionSkip
	case OverlapQueue:
		return ActionWait
	case OverlapCancelOther:
		return ActionCancelStart
	}
	return ActionStart
}

// Late reports whether a run scheduled at scheduled and not started by
// now (or started at now) is Late.
func (p Policy) Late(scheduled, now time.Time) bool {
	return now.Sub(scheduled) > p.lateAfter()
}
