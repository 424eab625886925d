package web

import (
	"math"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
)

// Timeline is a run's Gantt chart: a bar per task run that is not a
// mapped child (a mapped task one bar from its first child's start to
// its last one's end), in the order they started, placed in the span of
// the run.
type Timeline struct {
	Bars []Bar
	// More counts the task runs past the bars drawn.
	More     int
	From, To time.Time
	// Ticks mark the span in quarters.
	Ticks []Tick
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

// maxBars bounds the bars a run's timeline draws: past it, the task runs
// table pages through them.
const maxBars = 200

// timeline places up to limit of l's tasks in the span of the run.
func timeline(l server.TaskList, limit int) Timeline {
	t := Timeline{From: l.From, To: l.To}
	var bars []Bar
	for _, s := range l.Tasks {
		if s.Kind != "task" || s.StartedAt.IsZero() {
			continue
		}
		if len(bars) == limit {
			t.More++
			continue
		}
		bars = append(bars, Bar{Name: s.Name, State: s.State, Runs: s.Runs, Done: s.Done, Start: s.StartedAt, Stop: s.FinishedAt})
	}
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
