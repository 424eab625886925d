package web

import (
	"math"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// Timeline is a run's Gantt chart: a bar per task run that is not a
// mapped child (a mapped task one bar from its first child's start to
// its last one's end), in the order they started, placed in the span of
// the run.
type Timeline struct {
	Bars []Bar
	// First is the index of the first bar among the task runs that
	// started (a page of the chart: ?tl=First), Total how many started,
	// More how many come after the bars drawn.
	First, Total, More int
	// Size is a page's size, at most: how far Earlier goes back.
	Size     int
	From, To time.Time
	// Ticks mark the span in quarters.
	Ticks []Tick
	// Filtered: only the tasks the page's task-run filter selects.
	Filtered bool
}

// Bar is a task's bar: X and W in percent of the span; Y its row's top.
type Bar struct {
	Name  string
	State runtime.State
	X, W  float64
	Y     int
	// Took is its duration, or how long it has run so far.
	Took        string
	Runs, Done  int
	Start, Stop time.Time
}

// Tick is a mark of the span: X in percent, Label the time from its start.
type Tick struct {
	X     float64
	Label string
}

// Height is the chart's height in pixels.
func (t *Timeline) Height() int { return len(t.Bars)*barRow + 24 }

// barRow is the height of a timeline's row, in pixels.
const barRow = 20

// Paged reports whether the chart has more than one page.
func (t *Timeline) Paged() bool { return t.Total > len(t.Bars) }

// Earlier is the first bar of the page before.
func (t *Timeline) Earlier() int { return max(0, t.First-t.Size) }

// Range says which task runs the page draws: "201–400 of 10,000".
func (t *Timeline) Range() string {
	return thousands(t.First+1) + "–" + thousands(t.Later()) + " of " + thousands(t.Total)
}

// Later is the first bar of the page after.
func (t *Timeline) Later() int { return t.First + len(t.Bars) }

// maxBars is a timeline page's bars: a run of 10,000 tasks is drawn 200
// at a time (?tl=), each page in the span of the whole run, so that its
// page stays light (an SVG group per bar) and opens at once.
const maxBars = 200

// timeline places l's tasks first..first+limit (of those that started,
// in the order they started) in the span of the run. A first past the
// last page is the last page. With state or task (the page's task-run
// filter), only the tasks in that state (a mapped task: its own, or
// Failed when a child failed) or of that name are drawn, still in the
// span of the whole run.
func timeline(l server.TaskList, first, limit int, state, task string) Timeline {
	t := Timeline{From: l.From, To: l.To, Size: limit, Filtered: state != "" || task != ""}
	var started []store.TaskSummary
	for _, s := range l.Tasks {
		if s.Kind != "task" || s.StartedAt.IsZero() || task != "" && s.Name != task {
			continue
		}
		if state != "" && s.State.String() != state && !(s.Failed > 0 && state == runtime.Failed.String()) {
			continue
		}
		started = append(started, s)
	}
	t.Total = len(started)
	if first >= t.Total {
		first = max(0, (t.Total-1)/limit*limit)
	}
	t.First = max(0, first)
	var bars []Bar
	for _, s := range started[t.First:min(t.Total, t.First+limit)] {
		bars = append(bars, Bar{Name: s.Name, State: s.State, Runs: s.Runs, Done: s.Done, Start: s.StartedAt, Stop: s.FinishedAt})
	}
	t.More = t.Total - t.First - len(bars)
	if t.From.IsZero() || !t.To.After(t.From) {
		return t
	}
	span := t.To.Sub(t.From)
	pct := func(at time.Time) float64 {
		return min(100, max(0, 100*float64(at.Sub(t.From))/float64(span)))
	}
	for i := range bars {
		b := &bars[i]
		stop := b.Stop
		if stop.IsZero() {
			stop = t.To
		}
		b.X, b.Y = round2(pct(b.Start)), 20+i*barRow
		b.W = round2(max(0.4, pct(stop)-b.X))
		b.X = min(b.X, round2(100-b.W)) // a bar that ends at once still shows
		b.Took = duration(stop.Sub(b.Start))
	}
	t.Bars = bars
	for q := range 5 {
		t.Ticks = append(t.Ticks, Tick{X: float64(q) * 25, Label: "+" + duration(span*time.Duration(q)/4)})
	}
	return t
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
