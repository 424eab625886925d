package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
	"github.com/wfsh/wfsh/store"
)

// maxAhead bounds the upcoming runs one schedule has made ahead.
const maxAhead = 10

// schedule makes the runs of every deployment's schedules: the times
// missed since the last one made, by the deployment's catch-up policy,
// and the upcoming ones within Ahead (at most maxAhead a schedule), each
// under its unique key so that no time runs twice whichever server makes
// it. Runs made ahead that were never claimed because no server ran at
// their time are dropped by catch-up when this server starts leading.
func (s *Server) schedule(ctx context.Context, now time.Time) error {
	ds, err := s.st.ListDeployments(ctx)
	if err != nil {
		return err
	}
	made := false
	for i := range ds {
		d := &ds[i]
		if d.Paused || len(d.Schedules) <= 2 {
			continue
		}
		n, err := s.scheduleDeployment(ctx, d, now)
		if err != nil {
			s.logf("deployment %s: %v", d.Ref(), err)
			continue
		}
		made = made || n > 0
	}
	if made {
		s.changed(ctx)
	}
	return nil
}

func (s *Server) scheduleDeployment(ctx context.Context, d *store.Deployment, now time.Time) (int, error) {
	scheds, err := specs(d)
	if err != nil {
		return 0, err
	}
	pol := schedule.Policy{Catchup: schedule.Catchup(d.Catchup), Overlap: schedule.Overlap(d.Overlap), LateAfter: d.LateAfter}
	made := 0
	for _, sc := range scheds {
		last, err := s.st.LastScheduledOf(ctx, d.ID, sc.ID())
		if err != nil {
			return made, err
		}
		var times []time.Time
		if last.IsZero() {
			last = now // a new schedule: nothing was missed
		} else if last.Before(now) {
			times = pol.DueTimes(sc, last, now).Times
		}
		// Upcoming: the times after the last made, up to the maxAhead-th
		// time from now and within Ahead.
		horizon := now
		for k := 0; k < maxAhead && !horizon.IsZero(); k++ {
			horizon = sc.Next(horizon)
		}
		if end := now.Add(s.opt.Ahead); horizon.IsZero() || horizon.After(end) {
			horizon = end
		}
		from := last
		if now.After(from) {
			from = now
		}
		for t := sc.Next(from); !t.IsZero() && !t.After(horizon); t = sc.Next(t) {
			times = append(times, t)
		}
		for _, t := range times {
			ok, err := s.makeScheduled(ctx, d, sc, t, now)
			if err != nil {
				return made, err
			}
			if ok {
				made++
			}
		}
	}
	return made, nil
}

// makeScheduled makes the run of schedule sc at t, unless another server
// (or an earlier life of this one) made it.
func (s *Server) makeScheduled(ctx context.Context, d *store.Deployment, sc *schedule.Schedule, t, now time.Time) (bool, error) {
	params := map[string]json.RawMessage{}
	for k, v := range sc.Parameters() {
		b, err := json.Marshal(v)
		if err != nil {
			return false, fmt.Errorf("schedule %s: parameter %s: %v", sc, k, err)
		}
		params[k] = b
	}
	merged, err := runParams(d, params, true)
	if err != nil {
		return false, fmt.Errorf("schedule %s: %v", sc, err)
	}
	cx, _ := json.Marshal(schedule.Context(t.In(sc.Location())))
	_, err = s.st.CreateRun(ctx, store.NewRun{ID: runtime.NewRunID(), Deployment: d, Parameters: merged, Context: cx, ScheduledAt: t,
		Scheduled: &store.Scheduled{ScheduleID: sc.ID(), Key: schedule.Key("deployment:"+d.ID, sc.ID(), t)}}, now)
	if errors.Is(err, store.ErrKeyTaken) {
		return false, nil
	}
	return err == nil, err
}

// dropMissed applies catch-up to the runs made ahead whose time passed
// while no server led: called when this server starts leading. "all"
// keeps them; "none" drops them; "latest" keeps one run, for the newest
// time missed: the newest made ahead if no later time has passed since
// (else the scheduler makes that later one, and all made ahead go).
func (s *Server) dropMissed(ctx context.Context, now time.Time) {
	ds, err := s.st.ListDeployments(ctx)
	if err != nil {
		s.logf("catch-up: %v", err)
		return
	}
	for i := range ds {
		d := &ds[i]
		if d.Catchup == string(schedule.CatchupAll) {
			continue
		}
		scheds, err := specs(d)
		if err != nil {
			continue
		}
		byID := map[string]*schedule.Schedule{}
		for _, sc := range scheds {
			byID[sc.ID()] = sc
		}
		pol := schedule.Policy{Catchup: schedule.Catchup(d.Catchup), LateAfter: d.LateAfter}
		keep := func(sid string, newest time.Time) bool {
			sc := byID[sid]
			return sc != nil && d.Catchup != string(schedule.CatchupNone) && len(pol.DueTimes(sc, newest, now).Times) == 0
		}
		late := d.LateAfter
		if late <= 0 {
			late = schedule.DefaultLateAfter
		}
		msg := fmt.Sprintf("missed: no server ran at its time (catchup=%q)", d.Catchup)
		ids, err := s.st.DropMissed(ctx, d.ID, now.Add(-late), now, msg, keep)
		if err != nil {
			s.logf("catch-up of %s: %v", d.Ref(), err)
			continue
		}
		if len(ids) > 0 {
			s.logf("catch-up of %s: %d missed run(s) not run (catchup=%q)", d.Ref(), len(ids), d.Catchup)
		}
	}
}
