package tui

import (
	"slices"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wfsh/wfsh/runtime"
)

// ServeApp is the full-screen program of `wfsh serve --tui`: the upcoming
// times of every schedule, the runs in progress (and the last ones that
// ended), the selected run's pane (a Model, as `wfsh run --tui` shows a
// run), the scheduler's last lines and a status line.
//
// The scheduler tells it of runs with RunStarted and of its own lines
// with SchedulerLine (tea.Program.Send), and ends it with ServeStopped.
// Ctrl+C stops serving as SIGINT does (Stop); a second Ctrl+C calls Kill.
type ServeApp struct {
	opt  ServeOptions
	st   *styles
	keys serveKeys

	upcoming []Upcoming
	readAt   time.Time   // when upcoming was read
	runs     []*serveRun // in start order
	byFeed   map[*Feed]*serveRun
	sel      int  // index in runs; -1: none
	follow   bool // select each run as it starts
	lines    []string
	ended    int // runs that ended, pruned ones included

	asking, stopping bool
	width, height    int
}

// ServeOptions configure a ServeApp.
type ServeOptions struct {
	// Upcoming gives each schedule's next times after now; the view asks
	// once a second.
	Upcoming func(now time.Time) []Upcoming
	// Stop stops serving (the runs in progress are cancelled), as the
	// first SIGINT does; Kill exits at once, as the second does.
	Stop, Kill func()
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Upcoming is one schedule's next times.
type Upcoming struct {
	Flow, Schedule string
	// Times are the next few, in the schedule's zone, earliest first.
	Times []time.Time
}

// RunStarted tells a ServeApp of a scheduled run that begins. Pane shows
// it; its Feed brings the run's events.
type RunStarted struct {
	Pane      *Model
	Scheduled time.Time // in the schedule's zone
	Late      bool
}

// SchedulerLine is a line of the scheduler's log.
type SchedulerLine string

// ServeStopped ends the view: the scheduler and its runs have stopped.
type ServeStopped struct{}

type serveRun struct {
	pane      *Model
	scheduled time.Time
	late      bool
}

type serveKeys struct {
	Next, Prev, Quit, Interrupt, Yes, No key.Binding
}

// maxEndedRuns is how many ended runs stay listed below the running ones.
const maxEndedRuns = 50

// maxSchedulerLines is how many of the scheduler's lines are kept.
const maxSchedulerLines = 100

// NewServe returns the view of one `wfsh serve`.
func NewServe(opt ServeOptions) *ServeApp {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return &ServeApp{opt: opt, st: newStyles(), sel: -1, follow: true, byFeed: map[*Feed]*serveRun{},
		keys: serveKeys{
			Next:      b("tab", "next run", "tab"),
			Prev:      b("shift+tab", "previous run", "shift+tab"),
			Quit:      b("q", "quit", "q"),
			Interrupt: b("ctrl+c", "stop", "ctrl+c"),
			Yes:       b("y", "stop serving", "y", "Y", "enter"),
			No:        b("n", "keep serving", "n", "N", "esc", "q"),
		}}
}

type serveTick struct{}

const serveTickEvery = 250 * time.Millisecond

func serveTickCmd() tea.Cmd {
	return tea.Tick(serveTickEvery, func(time.Time) tea.Msg { return serveTick{} })
}

func (a *ServeApp) now() time.Time {
	if a.opt.Now != nil {
		return a.opt.Now()
	}
	return time.Now()
}

// Init reads the schedules' next times and starts the clock.
func (a *ServeApp) Init() tea.Cmd {
	a.refreshUpcoming()
	return serveTickCmd()
}

func (a *ServeApp) refreshUpcoming() {
	a.readAt = a.now()
	if a.opt.Upcoming != nil {
		a.upcoming = a.opt.Upcoming(a.readAt)
		slices.SortStableFunc(a.upcoming, func(x, y Upcoming) int {
			switch {
			case len(x.Times) == 0 || len(y.Times) == 0:
				return len(y.Times) - len(x.Times) // ended schedules last
			}
			return x.Times[0].Compare(y.Times[0])
		})
	}
}

// Update handles the scheduler's messages, the runs' events, the clock
// and keys.
func (a *ServeApp) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.resize()
	case tea.KeyPressMsg:
		return a, a.key(msg)
	case RunStarted:
		return a, a.started(msg)
	case SchedulerLine:
		a.lines = append(a.lines, runtime.Printable(string(msg)))
		if len(a.lines) > maxSchedulerLines {
			a.lines = append(a.lines[:0], a.lines[len(a.lines)-maxSchedulerLines:]...)
		}
	case ServeStopped:
		return a, tea.Quit
	case serveTick:
		if a.now().Sub(a.readAt) >= time.Second {
			a.refreshUpcoming()
		}
		a.prune()
		return a, serveTickCmd()
	case EventsMsg:
		// Each run's events go to its own pane only: a burst of a
		// thousand runs must not cost a thousand panes per batch.
		if r := a.byFeed[msg.feed]; r != nil {
			cmd := r.pane.Update(msg)
			if msg.Closed {
				delete(a.byFeed, msg.feed)
			}
			return a, cmd
		}
	}
	return a, nil
}

func (a *ServeApp) started(msg RunStarted) tea.Cmd {
	r := &serveRun{pane: msg.Pane, scheduled: msg.Scheduled, late: msg.Late}
	a.runs = append(a.runs, r)
	if f := msg.Pane.opt.Feed; f != nil {
		a.byFeed[f] = r
	}
	if a.follow || a.sel < 0 {
		a.sel = len(a.runs) - 1
	}
	a.resize()
	if f := msg.Pane.opt.Feed; f != nil {
		return f.Next() // the view's own clock redraws: no tick per pane
	}
	return nil
}

// prune drops the oldest ended runs beyond maxEndedRuns.
func (a *ServeApp) prune() {
	ended := 0
	for _, r := range a.runs {
		if _, done := r.pane.Done(); done {
			ended++
		}
	}
	if ended <= maxEndedRuns {
		return
	}
	drop, kept := ended-maxEndedRuns, a.runs[:0]
	selRun := a.selected()
	for _, r := range a.runs {
		if _, done := r.pane.Done(); done && drop > 0 && r != selRun {
			drop--
			a.ended++
			continue
		}
		kept = append(kept, r)
	}
	clear(a.runs[len(kept):])
	a.runs = kept
	a.sel = -1
	for i, r := range a.runs {
		if r == selRun {
			a.sel = i
		}
	}
	if a.sel < 0 && len(a.runs) > 0 {
		a.sel = len(a.runs) - 1
	}
}

func (a *ServeApp) selected() *serveRun {
	if a.sel < 0 || a.sel >= len(a.runs) {
		return nil
	}
	return a.runs[a.sel]
}

func (a *ServeApp) key(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, a.keys.Interrupt):
		a.asking = false
		a.interrupt()
		return nil
	case a.asking:
		switch {
		case key.Matches(msg, a.keys.Yes):
			a.asking = false
			a.interrupt()
		case key.Matches(msg, a.keys.No):
			a.asking = false
		}
		return nil
	case key.Matches(msg, a.keys.Quit):
		if !a.stopping {
			a.asking = true
		}
		return nil
	case key.Matches(msg, a.keys.Next):
		a.selectRun(a.sel + 1)
		return nil
	case key.Matches(msg, a.keys.Prev):
		a.selectRun(a.sel - 1)
		return nil
	}
	if r := a.selected(); r != nil {
		return r.pane.Update(msg)
	}
	return nil
}

// interrupt stops serving, as SIGINT does; a second time, exits at once.
func (a *ServeApp) interrupt() {
	if a.stopping {
		if a.opt.Kill != nil {
			a.opt.Kill()
		}
		return
	}
	a.stopping = true
	if a.opt.Stop != nil {
		a.opt.Stop()
	}
}

// selectRun selects run i (wrapping); the newest run selected follows
// the runs as they start.
func (a *ServeApp) selectRun(i int) {
	if len(a.runs) == 0 {
		return
	}
	a.sel = (i + len(a.runs)) % len(a.runs)
	a.follow = a.sel == len(a.runs)-1
	a.resize()
}

// Stopping reports whether serving is being stopped.
func (a *ServeApp) Stopping() bool { return a.stopping }

// Runs is how many runs the view has listed, pruned ones included.
func (a *ServeApp) Runs() int { return len(a.runs) + a.ended }
