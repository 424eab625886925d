package builtins

import (
	"encoding/json"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
)

// ScheduleValue is what cron(...), interval(...) and rrule(...) return: a
// schedule and the parameters (Starlark values) its runs get.
type ScheduleValue struct {
	*schedule.Schedule
	Params *starlark.Dict // frozen; empty when none were given
	Pos    runtime.Pos    // where the schedule was written
}

var _ starlark.HasAttrs = (*ScheduleValue)(nil)

func (s *ScheduleValue) String() string        { return s.Schedule.String() }
func (s *ScheduleValue) Type() string          { return "schedule" }
func (s *ScheduleValue) Freeze()               {}
func (s *ScheduleValue) Truth() starlark.Bool  { return true }
func (s *ScheduleValue) Hash() (uint32, error) { return starlark.String(s.ID()).Hash() }

var scheduleMethods = map[string]*starlark.Builtin{
	"next": starlark.NewBuiltin("next", scheduleNext),
}

func (s *ScheduleValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "kind":
		return starlark.String(s.Kind()), nil
	case "expr":
		return starlark.String(s.Expr()), nil
	case "timezone":
		return starlark.String(s.Location().String()), nil
	case "parameters":
		return s.Params, nil
	case "id":
		return starlark.String(s.ID()), nil
	}
	return builtinAttr(s, name, scheduleMethods)
}

func (s *ScheduleValue) AttrNames() []string {
	return append([]string{"expr", "id", "kind", "parameters", "timezone"}, builtinAttrNames(scheduleMethods)...)
}

// scheduleNext is s.next(n, after=): the n scheduled times after the
// RFC 3339 time after, as RFC 3339 strings in the schedule's zone.
func scheduleNext(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s := b.Receiver().(*ScheduleValue)
	var n int
	var after string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n, "after", &after); err != nil {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339Nano, after)
	if err != nil {
		return nil, fmt.Errorf("next: after=%q: want an RFC 3339 time such as 2026-03-27T00:00:00Z", after)
	}
	if n < 0 || n > 10000 {
		return nil, fmt.Errorf("next: n=%d: want 0 to 10000", n)
	}
	var out []starlark.Value
	for i := 0; i < n; i++ {
		if t = s.Next(t); t.IsZero() {
			break
		}
		out = append(out, starlark.String(t.Format(time.RFC3339Nano)))
	}
	return starlark.NewList(out), nil
}

// scheduleOptions reads what every schedule builtin takes.
func scheduleOptions(timezone string, params starlark.Value) (schedule.Options, *starlark.Dict, error) {
	loc, err := schedule.LoadLocation(timezone)
	if err != nil {
		return schedule.Options{}, nil, err
	}
	d := starlark.NewDict(0)
	var goParams map[string]any
	switch p := params.(type) {
	case starlark.NoneType:
	case *starlark.Dict:
		for _, item := range p.Items() {
			k, ok := item[0].(starlark.String)
			if !ok {
				return schedule.Options{}, nil, fmt.Errorf("parameters: keys are parameter names, got %s %s", item[0].Type(), item[0])
			}
			_ = d.SetKey(k, item[1])
		}
		data, err := EncodeJSON(d)
		if err != nil {
			return schedule.Options{}, nil, fmt.Errorf("parameters: %v", err)
		}
		if err := json.Unmarshal(data, &goParams); err != nil {
			return schedule.Options{}, nil, fmt.Errorf("parameters: %v", err)
		}
	default:
		return schedule.Options{}, nil, fmt.Errorf("parameters: want a dict of parameter values, got %s", params.Type())
	}
	d.Freeze()
	return schedule.Options{Location: loc, Parameters: goParams}, d, nil
}

// cronBuiltin is cron(expr, timezone="UTC", day_or=True, parameters=None).
func cronBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var expr, timezone string
	dayOr := true
	var params starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "expr", &expr, "timezone?", &timezone, "day_or?", &dayOr, "parameters?", &params); err != nil {
		return nil, err
	}
	o, d, err := scheduleOptions(timezone, params)
	if err != nil {
		return nil, fmt.Errorf("cron: %v", err)
	}
	s, err := schedule.Cron(expr, dayOr, o)
	if err != nil {
		return nil, err
	}
	return &ScheduleValue{Schedule: s, Params: d, Pos: callerPos(thread)}, nil
}

// intervalBuiltin is interval(every, start=None, timezone="UTC",
// parameters=None); every is a duration string or a number of seconds.
func intervalBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var every starlark.Value
	var start starlark.Value = starlark.None
	var timezone string
	var params starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "every", &every, "start?", &start, "timezone?", &timezone, "parameters?", &params); err != nil {
		return nil, err
	}
	var e string
	switch v := every.(type) {
	case starlark.String:
		e = string(v)
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n <= 0 {
			return nil, fmt.Errorf("interval: every=%s: want a positive number of seconds or a duration such as \"6h\"", v)
		}
		e = fmt.Sprintf("%ds", n)
	default:
		return nil, fmt.Errorf("interval: every: want a duration such as \"6h\" or a number of seconds, got %s", every.Type())
	}
	var st string
	switch v := start.(type) {
	case starlark.NoneType:
	case starlark.String:
		st = string(v)
	default:
		return nil, fmt.Errorf("interval: start: want a time such as \"2020-11-30T00:00:00\", got %s", start.Type())
	}
	o, d, err := scheduleOptions(timezone, params)
	if err != nil {
		return nil, fmt.Errorf("interval: %v", err)
	}
	s, err := schedule.Interval(e, st, o)
	if err != nil {
		return nil, err
	}
	return &ScheduleValue{Schedule: s, Params: d, Pos: callerPos(thread)}, nil
}

// rruleBuiltin is rrule(text, timezone="UTC", parameters=None).
func rruleBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text, timezone string
	var params starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "text", &text, "timezone?", &timezone, "parameters?", &params); err != nil {
		return nil, err
	}
	o, d, err := scheduleOptions(timezone, params)
	if err != nil {
		return nil, fmt.Errorf("rrule: %v", err)
	}
	s, err := schedule.RRule(text, o)
	if err != nil {
		return nil, err
	}
	return &ScheduleValue{Schedule: s, Params: d, Pos: callerPos(thread)}, nil
}

// flowSchedules are @flow's schedule=, catchup=, overlap= and late_after=.
type flowSchedules struct {
	list   []*ScheduleValue
	policy schedule.Policy
}

// parseFlowSchedules checks @flow's schedule options.
func parseFlowSchedules(sched starlark.Value, catchup, overlap string, lateAfter starlark.Value) (flowSchedules, error) {
	var fs flowSchedules
	switch v := sched.(type) {
	case starlark.NoneType:
	case *ScheduleValue:
		fs.list = []*ScheduleValue{v}
	case starlark.String:
		return fs, scheduleTypeError(v)
	case *starlark.List, starlark.Tuple: // a list or tuple
		seq := v.(starlark.Indexable)
		for i := 0; i < seq.Len(); i++ {
			s, ok := seq.Index(i).(*ScheduleValue)
			if !ok {
				return fs, scheduleTypeError(seq.Index(i))
			}
			fs.list = append(fs.list, s)
		}
	default:
		return fs, scheduleTypeError(sched)
	}
	seen := map[string]bool{}
	for _, s := range fs.list {
		if seen[s.ID()] {
			return fs, fmt.Errorf("flow: schedule %s is given twice", s)
		}
		seen[s.ID()] = true
	}
	var err error
	if fs.policy.Catchup, err = schedule.ParseCatchup(catchup); err != nil {
		return fs, fmt.Errorf("flow: %v", err)
	}
	if fs.policy.Overlap, err = schedule.ParseOverlap(overlap); err != nil {
		return fs, fmt.Errorf("flow: %v", err)
	}
	fs.policy.LateAfter = schedule.DefaultLateAfter
	switch v := lateAfter.(type) {
	case starlark.NoneType:
	case starlark.String:
		d, err := time.ParseDuration(string(v))
		if err != nil || d <= 0 {
			return fs, fmt.Errorf("flow: late_after=%q: want a positive duration such as \"15s\" or \"2m\"", string(v))
		}
		fs.policy.LateAfter = d
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n <= 0 {
			return fs, fmt.Errorf("flow: late_after=%s: want a positive number of seconds", v)
		}
		fs.policy.LateAfter = time.Duration(n) * time.Second
	default:
		return fs, fmt.Errorf("flow: late_after: want a duration such as \"15s\" or a number of seconds, got %s", lateAfter.Type())
	}
	return fs, nil
}

func scheduleTypeError(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok {
		return fmt.Errorf("flow: schedule: got the string %s; write schedule=cron(%s) (or interval(...), rrule(...))", s, s)
	}
	return fmt.Errorf("flow: schedule: want cron(...), interval(...), rrule(...) or a list of them, got %s", v.Type())
}

// checkScheduleParams checks each schedule's parameters against the
// flow's: known names, values of the defaults' types, every required one
// given (a scheduled run has no -p).
func (f *Flow) checkScheduleParams() error {
	for _, s := range f.schedule.list {
		// (No parameter "name" with quotes in these messages: that reads
		// as a misused task result to explainTaskRef.)
		for _, item := range s.Params.Items() {
			if k := string(item[0].(starlark.String)); !f.hasParam(k) {
				return fmt.Errorf("flow %s: schedule %s: parameters: the flow has no parameter named %s (%s)", f.name, s, k, f.paramList())
			}
		}
		for _, p := range f.params {
			if _, ok, _ := s.Params.Get(starlark.String(p.Name)); p.Default == nil && !ok {
				return fmt.Errorf("flow %s: schedule %s: the flow's required parameter %s is not given; add it to the schedule's parameters={...}", f.name, s, p.Name)
			}
		}
		if _, err := f.ScheduleParams(s); err != nil {
			msg := err.Error()
			if list, ok := err.(runtime.ErrorList); ok && len(list) > 0 {
				msg = list[0].Msg
			}
			return fmt.Errorf("flow %s: schedule %s: parameters: %s", f.name, s, msg)
		}
	}
	return nil
}

// ScheduleParams are the parameters a run of schedule s gets: the flow's
// defaults and the schedule's own.
func (f *Flow) ScheduleParams(s *ScheduleValue) (*starlark.Dict, error) {
	given := map[string]starlark.Value{}
	for _, item := range s.Params.Items() {
		given[string(item[0].(starlark.String))] = item[1]
	}
	return f.bindParams(given, false)
}

// Schedules are the flow's schedules, in the order given.
func (f *Flow) Schedules() []*ScheduleValue { return f.schedule.list }

// SchedulePolicy is the flow's catchup, overlap and late_after.
func (f *Flow) SchedulePolicy() schedule.Policy { return f.schedule.policy }
