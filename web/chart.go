package web

import (
	"fmt"
	"math"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
)

// Chart is the runs page's chart of runs by state over time (GET
// /runs/history): a stacked bar per bucket, X and W in percent, heights
// in pixels of ChartHeight, and each state's total for the legend (the
// states are named there, not told by colour alone).
type Chart struct {
	From, To time.Time
	Step     time.Duration
	Bars     []ChartBar
	Totals   []StateCount
	Max      int
}

// ChartBar is a bucket's bar: its parts, bottom up.
type ChartBar struct {
	Start time.Time
	X, W  float64
	Parts []ChartPart
	Total int
}

// ChartPart is one state's part of a bar.
type ChartPart struct {
	State   runtime.State
	Count   int
	Y, H    int
	Summary string
}

// StateCount is a state and how many runs are in it.
type StateCount struct {
	State runtime.State
	Count int
}

// ChartHeight is the height of the chart's bars, in pixels.
const ChartHeight = 80

// chart draws h.
func chart(h server.RunHistory) Chart {
	c := Chart{From: h.From, To: h.To, Step: time.Duration(h.Step) * time.Second}
	totals := map[runtime.State]int{}
	for _, b := range h.Buckets {
		n := 0
		for _, v := range b.Counts {
			n += v
		}
		c.Max = max(c.Max, n)
	}
	w := 100 / float64(max(1, len(h.Buckets)))
	for i, b := range h.Buckets {
		bar := ChartBar{Start: b.Start, X: round2(float64(i) * w), W: round2(w * 0.85)}
		// Each part is at least a pixel; the rest of the height is
		// shared in proportion, so that no bar is taller than the chart.
		room := float64(ChartHeight - len(b.Counts))
		y := ChartHeight
		for s := range runtime.NumStates {
			st := runtime.State(s)
			n := b.Counts[st.String()]
			if n == 0 {
				continue
			}
			totals[st] += n
			bar.Total += n
			hgt := 1 + int(math.Floor(float64(n)*room/float64(c.Max)))
			y -= hgt
			bar.Parts = append(bar.Parts, ChartPart{State: st, Count: n, Y: y, H: hgt,
				Summary: fmt.Sprintf("%s: %d %s", when(b.Start), n, st)})
		}
		c.Bars = append(c.Bars, bar)
	}
	for s := range runtime.NumStates {
		if n := totals[runtime.State(s)]; n > 0 {
			c.Totals = append(c.Totals, StateCount{runtime.State(s), n})
		}
	}
	return c
}

// ranges are the time ranges the runs page offers, by their name in
// its URL.
var ranges = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}
