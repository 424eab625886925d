// Package schedule computes when scheduled flow runs are due: cron, interval
// and rrule schedules in an IANA time zone, the DST rules, and the policy a
// scheduler applies to them (catch-up after downtime, overlapping runs,
// lateness, the unique key of a scheduled run). It is pure: times in, times
// out; the clock is always a parameter.
//
// DST: every schedule first produces local wall-clock times, then maps each
// to an instant. A wall time that does not exist (the spring gap) maps to
// the first instant after the gap; one that exists twice (the autumn
// repeat) maps to its first occurrence. Several wall times that map to the
// same instant give one scheduled time.
package schedule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// Kind names what a schedule is built from.
type Kind string

const (
	KindCron     Kind = "cron"
	KindInterval Kind = "interval"
	KindRRule    Kind = "rrule"
)

// A Schedule is one cron, interval or rrule schedule with its zone and the
// parameters its runs get. It is immutable and safe for concurrent use.
type Schedule struct {
	kind       Kind
	expr       string // the definition as given (cron expression, interval, rule text)
	detail     string // what else defines the times (day_or, start), for the id
	loc        *time.Location
	parameters map[string]any
	id         string
	next       func(after time.Time) time.Time
	spec       Spec
}

// Spec is a schedule as data, for a server to keep and build again:
// Build(s.Spec()) has s's id and times.
type Spec struct {
	Kind Kind   `json:"kind"`
	Expr string `json:"expr"` // the cron expression, the interval ("6h") or the rule
	// DayOr is cron's (false only when given so); Start an interval's
	// anchor as given ("" for the default).
	DayOr      *bool          `json:"day_or,omitempty"`
	Start      string         `json:"start,omitempty"`
	Timezone   string         `json:"timezone"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

// Spec is s as data.
func (s *Schedule) Spec() Spec { return s.spec }

// Build makes the schedule sp describes.
func (sp Spec) Build() (*Schedule, error) {
	loc, err := LoadLocation(sp.Timezone)
	if err != nil {
		return nil, err
	}
	o := Options{Location: loc, Parameters: sp.Parameters}
	switch sp.Kind {
	case KindCron:
		return Cron(sp.Expr, sp.DayOr == nil || *sp.DayOr, o)
	case KindInterval:
		return Interval(sp.Expr, sp.Start, o)
	case KindRRule:
		return RRule(sp.Expr, o)
	}
	return nil, fmt.Errorf("schedule kind %q: want cron, interval or rrule", sp.Kind)
}

// Kind is cron, interval or rrule.
func (s *Schedule) Kind() Kind { return s.kind }

// Expr is the schedule's definition as given.
func (s *Schedule) Expr() string { return s.expr }

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Parameters are the flow parameters each run of this schedule gets.
func (s *Schedule) Parameters() map[string]any { return s.parameters }

// String describes the schedule, e.g. `cron("0 2 * * *", timezone="Asia/Tokyo")`.
func (s *Schedule) String() string {
	str := fmt.Sprintf("%s(%q", s.kind, s.expr)
	if s.detail != "" {
		str += ", " + s.detail
	}
	return str + fmt.Sprintf(", timezone=%q)", s.loc.String())
}

// ID is a stable identifier of the schedule, derived from everything that
// defines it (kind, definition, zone, options, parameters): the same
// schedule written again has the same id; a changed one has another.
func (s *Schedule) ID() string { return s.id }

// Next is the first scheduled time strictly after t, or the zero time when
// there is none (an rrule with COUNT or UNTIL that has ended).
func (s *Schedule) Next(t time.Time) time.Time { return s.next(t) }

// Options are what every schedule may carry.
type Options struct {
	// Location is the IANA zone the schedule's wall times are in; nil is UTC.
	Location *time.Location
	// Parameters are JSON-like values (nil, bool, int64, float64, string,
	// []any, map[string]any) given to each run.
	Parameters map[string]any
}

func newSchedule(kind Kind, expr, detail string, o Options, next func(time.Time) time.Time, spec Spec) (*Schedule, error) {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	params, err := json.Marshal(o.Parameters) // map keys sorted: canonical
	if err != nil {
		return nil, fmt.Errorf("parameters: %v", err)
	}
	spec.Kind, spec.Expr, spec.Timezone, spec.Parameters = kind, expr, loc.String(), o.Parameters
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s", kind, expr, detail, loc.String(), params)))
	return &Schedule{kind: kind, expr: expr, detail: detail, loc: loc, parameters: o.Parameters,
		id: string(kind) + "-" + hex.EncodeToString(sum[:6]), next: next, spec: spec}, nil
}

// LoadLocation is time.LoadLocation with a message that names the problem;
// "" is UTC. "Local" is refused: a schedule must mean the same on every
// machine.
func LoadLocation(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("timezone %q: give an IANA zone name such as \"Europe/Berlin\"", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown timezone %q: give an IANA zone name such as \"Europe/Berlin\"", name)
	}
	return loc, nil
}

// Key is the unique key of the run of schedule scheduleID of flow at time t:
// one scheduled time gives one run, ever, and a store enforces it by a
// unique index on this string. It is stable across processes and
// versions: flow and schedule id path-escaped, the time in UTC (RFC 3339,
// nanoseconds only when not zero).
func Key(flow, scheduleID string, t time.Time) string {
	return "sched/" + url.PathEscape(flow) + "/" + url.PathEscape(scheduleID) + "/" + t.UTC().Format(time.RFC3339Nano)
}

// Context is the context a run scheduled at t gets: scheduled_start_time
// (RFC 3339 in t's zone), date (the same instant) and today, from which
// yesterday, tomorrow and the _nodash keys follow: the scheduled day in
// t's zone, not the day the run happens to start.
func Context(t time.Time) map[string]string {
	ts := t.Format(time.RFC3339Nano)
	return map[string]string{"scheduled_start_time": ts, "date": ts, "today": t.Format(time.DateOnly)}
}
