package tui

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// fixedUpcoming lists two schedules in their zones, the later first: the
// view sorts them by their next time.
func fixedUpcoming(t *testing.T) func(time.Time) []Upcoming {
	berlin, tokyo := mustZone(t, "Europe/Berlin"), mustZone(t, "Asia/Tokyo")
	return func(now time.Time) []Upcoming {
		return []Upcoming{
			{Flow: "nightly", Schedule: `cron("0 2 * * *", timezone="Asia/Tokyo")`, Times: []time.Time{
				time.Date(2020, 11, 30, 2, 0, 0, 0, tokyo), time.Date(2020, 12, 1, 2, 0, 0, 0, tokyo)}},
			{Flow: "ETL", Schedule: `interval("1m", timezone="Europe/Berlin")`, Times: []time.Time{
				time.Date(2020, 11, 29, 11, 48, 0, 0, berlin), time.Date(2020, 11, 29, 11, 49, 0, 0, berlin),
				time.Date(2020, 11, 29, 11, 50, 0, 0, berlin)}},
			{Flow: "once", Schedule: `rrule("FREQ=DAILY;COUNT=1")`},
		}
	}
}

// TestServeView draws the serve view with two runs of the same flow, one
// over and one halfway, the running one selected (golden file:
// testdata/TestServeView.golden, `go test ./tui -update` rewrites it).
func TestServeView(t *testing.T) {
	s := etlRun()
	a := NewServe(ServeOptions{Upcoming: fixedUpcoming(t), Now: s.at})
	a.Init()
	a.Update(tea.WindowSizeMsg{Width: 110, Height: 30})
	berlin := mustZone(t, "Europe/Berlin")
	done := New(Options{Graph: etlGraph(), Now: s.at, RunID: "7a1c9e02-done"})
	d := etlDone()
	for i := range d.events {
		d.events[i].RunID = "7a1c9e02-done"
	}
	done.Apply(d.events)
	a.Update(RunStarted{Pane: done, Scheduled: time.Date(2020, 11, 29, 11, 46, 0, 0, berlin)})
	half := New(Options{Graph: etlGraph(), Now: s.at, RunID: "0d6f2c1e-run"})
	half.Apply(s.events)
	a.Update(RunStarted{Pane: half, Scheduled: time.Date(2020, 11, 29, 11, 47, 0, 0, berlin), Late: true})
	a.Update(SchedulerLine("[10:47:10] INFO | Flow 'ETL': run 0d6f2c1e for 2020-11-29T10:47:00Z (schedule interval-1a2b)"))
	view := ansi.Strip(a.View().Content)
	if n := strings.Count(view, "\n") + 1; n != 30 {
		t.Errorf("the view has %d lines, want 30", n)
	}
	golden.RequireEqual(t, view)
}

// serveProbe reads a ServeApp's screen from inside its program.
type serveProbe struct{ *ServeApp }

type serveProbeMsg struct{ reply chan string }

func (p serveProbe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if q, ok := msg.(serveProbeMsg); ok {
		q.reply <- ansi.Strip(p.ServeApp.View().Content)
		return p, nil
	}
	_, cmd := p.ServeApp.Update(msg)
	return p, cmd
}

func waitServe(t *testing.T, tm *teatest.TestModel, what string, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		reply := make(chan string, 1)
		tm.Send(serveProbeMsg{reply})
		select {
		case last = <-reply:
			if cond(last) {
				return last
			}
		case <-time.After(time.Second):
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last screen:\n%s", what, last)
	return ""
}

// TestServeLive runs the view as a bubbletea program (teatest) over two
// real executor runs sent as a scheduler sends them: both are listed and
// end in the states the executor gives; tab selects the other; Ctrl+C
// stops serving once, a second Ctrl+C kills; ServeStopped ends the view.
func TestServeLive(t *testing.T) {
	var stops, kills atomic.Int32
	a := NewServe(ServeOptions{Upcoming: fixedUpcoming(t),
		Stop: func() { stops.Add(1) }, Kill: func() { kills.Add(1) }})
	tm := teatest.NewTestModel(t, serveProbe{a}, teatest.WithInitialTermSize(110, 40))
	t.Cleanup(func() { _ = tm.Quit() })

	results := make(chan *runtime.Result, 2)
	for _, id := range []string{"run-aaaa", "run-bbbb"} {
		g := runtimetest.SampleGraph()
		feed := NewFeed(0)
		pane := New(Options{Graph: g, Feed: feed, RunID: id})
		tm.Send(RunStarted{Pane: pane, Scheduled: time.Now()})
		go func() {
			res := runtime.Run(context.Background(), g, runtime.Options{RunID: id, Sink: feed})
			feed.Close()
			results <- res
		}()
	}
	res := <-results
	<-results
	s := waitServe(t, tm, "both runs over", func(s string) bool {
		return strings.Count(s, res.State.String()) >= 3 && strings.Contains(s, "2 ended")
	})
	for _, id := range []string{"run-aaa", "run-bbb"} {
		if !strings.Contains(s, id) {
			t.Errorf("run %s is not listed:\n%s", id, s)
		}
	}
	if !strings.Contains(selectedLine(s), "run-bbb") {
		t.Errorf("the newest run is not selected: %q", selectedLine(s))
	}
	tm.Send(keyMsg("tab")) // wraps to the first
	s = waitServe(t, tm, "the first run selected", func(s string) bool { return strings.Contains(selectedLine(s), "run-aaa") })
	if !strings.Contains(s, "sample · run run-aaaa") {
		t.Errorf("the pane does not show the selected run:\n%s", s)
	}
	// The nearest time first, the schedule that has ended last.
	wantOrder(t, s, "ETL", "nightly", "once")

	tm.Send(keyMsg("q"))
	waitServe(t, tm, "the question", func(s string) bool { return strings.Contains(s, "Stop serving?") })
	tm.Send(keyMsg("n"))
	waitServe(t, tm, "no question", func(s string) bool { return !strings.Contains(s, "Stop serving?") })
	if stops.Load() != 0 {
		t.Fatal("n stopped serving")
	}
	tm.Send(keyMsg("ctrl+c"))
	waitServe(t, tm, "stopping", func(s string) bool { return strings.Contains(s, "Stopping: cancelling") })
	tm.Send(keyMsg("ctrl+c"))
	waitServe(t, tm, "the kill", func(string) bool { return kills.Load() == 1 })
	if stops.Load() != 1 {
		t.Errorf("Stop was called %d times, want once", stops.Load())
	}
	tm.Send(ServeStopped{})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

func selectedLine(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "› ") && strings.Contains(l, "run-") {
			return l
		}
	}
	return ""
}

func wantOrder(t *testing.T, screen string, names ...string) {
	t.Helper()
	at := 0
	for _, n := range names {
		i := strings.Index(screen[at:], " "+n+" ")
		if i < 0 {
			t.Errorf("%q missing or out of order:\n%s", n, screen)
			return
		}
		at += i + len(n)
	}
}
