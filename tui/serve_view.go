package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/wfsh/wfsh/runtime"
)

// Column widths of the serve view's lists.
const (
	whenW = 27 // "Mon 2006-01-02 15:04:05 MST"
	inW   = 10
	flowW = 20
	runW  = 8
	thenW = 20 // the THEN column, at least, when the width allows
)

// schedW is the width of the SCHEDULE column: its longest entry, within
// what the width leaves.
func (a *ServeApp) schedW() int {
	w := len("SCHEDULE")
	for i := range a.upcoming {
		w = max(w, width(a.upcoming[i].Schedule))
	}
	return max(min(w, a.width-(1+whenW+1+inW+1+flowW+1)-thenW), len("SCHEDULE"))
}

// schedLines is how many of the scheduler's lines show.
const schedLines = 2

// serveLayout is how the screen's height is shared.
type serveLayout struct {
	upcoming, runs, pane int // rows of each (titles not counted)
}

func (a *ServeApp) layout() serveLayout {
	h := a.height
	var l serveLayout
	// title, the two lists' titles, the scheduler's lines, the status
	fixed := 1 + 2 + schedLines + 1
	share := max((h-fixed)/5, 1)
	l.upcoming = min(max(len(a.upcoming), 1), share)
	l.runs = min(max(len(a.runs), 1), max(share, 3))
	l.pane = h - fixed - l.upcoming - l.runs
	if l.pane < 4 {
		l.pane = 0
	}
	return l
}

// resize gives the selected run's pane its share of the screen.
func (a *ServeApp) resize() {
	if r := a.selected(); r != nil {
		r.pane.SetSize(a.width, a.layout().pane)
	}
}

// View draws the screen: exactly its height in lines, each at most its
// width. It changes nothing.
func (a *ServeApp) View() tea.View {
	v := tea.NewView(a.render())
	v.AltScreen = true
	v.WindowTitle = "wfsh serve"
	return v
}

func (a *ServeApp) render() string {
	if a.width <= 0 || a.height <= 0 {
		return ""
	}
	var lines []string
	add := func(s string) { lines = append(lines, ansi.Truncate(s, a.width, "…")) }
	l := a.layout()
	now := a.now()
	add(a.title(now))
	sw := a.schedW()
	add(a.st.faint.Styled(" " + fit("NEXT", whenW) + " " + fit("IN", inW) + " " + fit("FLOW", flowW) + " " +
		fit("SCHEDULE", sw) + " THEN"))
	for i := range l.upcoming {
		if i < len(a.upcoming) {
			add(a.upcomingRow(&a.upcoming[i], now, sw))
		} else if i == 0 {
			add(a.st.faint.Styled("  no scheduled time to come"))
		}
	}
	add(a.st.faint.Styled("  " + fit("RUN", runW) + " " + fit("FLOW", flowW) + " " + fit("SCHEDULED", whenW) + " " +
		fit("STATE", stateW) + " " + fitRight("DURATION", durW) + "  TASK RUNS"))
	off := a.runsOffset(l.runs)
	for i := off; i < off+l.runs; i++ {
		switch {
		case i < len(a.runs):
			add(a.runRow(a.runs[i], i == a.sel))
		case i == 0:
			add(a.st.faint.Styled("  no run yet"))
		default:
			add("")
		}
	}
	if r := a.selected(); r != nil && l.pane > 0 {
		lines = append(lines, r.pane.View())
	} else {
		for range l.pane {
			lines = append(lines, "")
		}
	}
	for i := range schedLines {
		if j := len(a.lines) - schedLines + i; j >= 0 {
			add(a.st.faint.Styled(" " + a.lines[j]))
		} else {
			add("")
		}
	}
	add(a.status())
	return strings.Join(lines, "\n")
}

func (a *ServeApp) title(now time.Time) string {
	running := 0
	for _, r := range a.runs {
		if _, done := r.pane.Done(); !done {
			running++
		}
	}
	parts := []string{a.st.bold.Styled("wfsh serve"), groupDigits(len(a.upcoming)) + " schedules",
		a.st.stateStyle(runtime.Running).Styled(groupDigits(running) + " running"),
		groupDigits(a.Runs()-running) + " ended", now.Format("15:04:05 MST")}
	return " " + strings.Join(parts, " · ")
}

func (a *ServeApp) upcomingRow(u *Upcoming, now time.Time, sw int) string {
	next, in, then := "ended", "", ""
	if len(u.Times) > 0 {
		next = u.Times[0].Format("Mon 2006-01-02 15:04:05 MST")
		in = "in " + formatDuration(u.Times[0].Sub(now))
		var later []string
		for i, t := range u.Times[1:] {
			later = append(later, shortTime(t, u.Times[i]))
		}
		then = strings.Join(later, ", ")
	}
	return " " + fit(next, whenW) + " " + fit(in, inW) + " " + fit(runtime.Printable(u.Flow), flowW) + " " +
		fit(runtime.Printable(u.Schedule), sw) + " " + a.st.faint.Styled(then)
}

// shortTime is t as briefly as it reads after prev: the time of day on
// the same day, else the date too.
func shortTime(t, prev time.Time) string {
	if t.YearDay() == prev.YearDay() && t.Year() == prev.Year() {
		return t.Format("15:04:05")
	}
	return t.Format("01-02 15:04")
}

// runsOffset is the first listed run on screen: the selection shows.
func (a *ServeApp) runsOffset(rows int) int {
	if len(a.runs) <= rows || a.sel < 0 {
		return 0
	}
	return min(max(a.sel-rows+1, 0), len(a.runs)-rows)
}

func (a *ServeApp) runRow(r *serveRun, selected bool) string {
	m, st := r.pane, a.st
	state := runtime.Pending
	if s, done := m.Done(); done {
		state = s
	} else if m.Started() {
		state = runtime.Running
	}
	mark := "  "
	if selected {
		mark = "› "
	}
	sched := r.scheduled.Format("Mon 2006-01-02 15:04:05 MST")
	stateText := st.stateStyle(state).Styled(fit(state.String(), stateW))
	row := mark + fit(shortRunID(m.RunID()), runW) + " " + fit(m.flow, flowW) + " " + fit(sched, whenW) + " " +
		stateText + " " + fitRight(formatDuration(m.Elapsed()), durW) + "  " + a.taskRuns(m)
	if r.late {
		row += " " + st.warn.Styled("Late")
	}
	if selected {
		return st.selected.Styled(ansi.Strip(row))
	}
	return row
}

// taskRuns is "3/5" (task runs finished of those known), with the
// failed ones.
func (a *ServeApp) taskRuns(m *Model) string {
	open := m.Count(runtime.Pending) + m.Count(runtime.Running) + m.Count(runtime.Retrying) + m.Count(runtime.Waiting)
	s := groupDigits(m.Total()-open) + "/" + groupDigits(m.Total())
	failed := m.Count(runtime.Failed) + m.Count(runtime.TriggerFailed) + m.Count(runtime.TimedOut) + m.Count(runtime.Crashed)
	if failed > 0 {
		s += " " + a.st.err.Styled("✗"+groupDigits(failed))
	}
	return s
}

func shortRunID(id string) string { return id[:min(len(id), runW)] }

func (a *ServeApp) status() string {
	st := a.st
	switch {
	case a.asking:
		return st.warn.Styled(" Stop serving? The runs in progress are cancelled. (y/n)")
	case a.stopping:
		return st.warn.Styled(" Stopping: cancelling the runs in progress… (ctrl+c: exit at once)")
	}
	keys := []key.Binding{a.keys.Next, a.keys.Prev}
	if r := a.selected(); r != nil {
		keys = append(keys, r.pane.KeyMap().ShortHelp()...)
	}
	var parts []string
	for _, b := range append(keys, a.keys.Quit) {
		h := b.Help()
		parts = append(parts, st.bold.Styled(h.Key)+" "+h.Desc)
	}
	return " " + strings.Join(parts, " · ")
}
