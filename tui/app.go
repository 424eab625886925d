package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/wfsh/wfsh/runtime"
)

// App is the full-screen program of `wfsh run --tui`: the run pane over a
// status line. q (or ctrl+c) quits once the run is over; while it goes on,
// it asks first, then cancels the run and quits when the run has stopped.
type App struct {
	// Start, if set, is called once, when the terminal is ready: start the
	// run there, so that a terminal that cannot be used runs nothing.
	Start func()

	m      *Model
	cancel func()
	keys   appKeys

	asking     bool // "cancel the run and quit?"
	cancelling bool // the user said yes; quit once the run stopped
	width      int
}

type appKeys struct {
	Quit, Yes, No key.Binding
}

// NewApp returns the program for the run shown by m; cancel must cancel
// the run (its executor's context).
func NewApp(m *Model, cancel func()) *App {
	return &App{m: m, cancel: cancel, keys: appKeys{
		Quit: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:  key.NewBinding(key.WithKeys("y", "Y", "enter", "ctrl+c"), key.WithHelp("y", "cancel the run and quit")),
		No:   key.NewBinding(key.WithKeys("n", "N", "esc", "q"), key.WithHelp("n", "keep watching")),
	}}
}

// Model returns the run pane.
func (a *App) Model() *Model { return a.m }

// Asking reports whether the App waits for an answer to "cancel the run
// and quit?".
func (a *App) Asking() bool { return a.asking }

// Init starts the pane, and the run with Start.
func (a *App) Init() tea.Cmd {
	if a.Start == nil {
		return a.m.Init()
	}
	start := a.Start
	return tea.Batch(func() tea.Msg { start(); return nil }, a.m.Init())
}

// Update handles the window, quitting, and hands the rest to the pane.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width = msg.Width
		a.m.SetSize(msg.Width, max(msg.Height-1, 0))
		return a, nil
	case tea.KeyPressMsg:
		return a, a.key(msg)
	}
	cmd := a.m.Update(msg)
	// A run cancelled from here, or by a signal (Ctrl-C from outside the
	// view, kill), ends the view with it.
	if st, done := a.m.Done(); done && (a.cancelling || st == runtime.Cancelled) {
		return a, tea.Batch(cmd, tea.Quit)
	}
	return a, cmd
}

func (a *App) key(msg tea.KeyPressMsg) tea.Cmd {
	_, done := a.m.Done()
	if a.asking {
		switch {
		case key.Matches(msg, a.keys.Yes):
			a.asking = false
			if done {
				return tea.Quit
			}
			a.cancelling = true
			a.cancel()
		case key.Matches(msg, a.keys.No):
			a.asking = false
		}
		return nil
	}
	if key.Matches(msg, a.keys.Quit) {
		if done || a.cancelling {
			return tea.Quit
		}
		a.asking = true
		return nil
	}
	return a.m.Update(msg)
}

// View draws the pane and the status line in the alternate screen.
func (a *App) View() tea.View {
	v := tea.NewView(a.m.View() + "\n" + a.status())
	v.AltScreen = true
	v.WindowTitle = "wfsh: " + a.m.flow
	return v
}

func (a *App) status() string {
	st := a.m.st
	var s string
	_, done := a.m.Done()
	switch {
	case a.asking && !done:
		s = st.warn.Styled(" The run is still going. Cancel it and quit? (y/n)")
	case a.asking:
		s = st.warn.Styled(" The run is over. Quit? (y/n)")
	case a.cancelling:
		s = st.warn.Styled(" Cancelling the run… (q: stop waiting)")
	default:
		var parts []string
		for _, b := range append(a.m.keys.ShortHelp(), a.keys.Quit) {
			h := b.Help()
			parts = append(parts, st.bold.Styled(h.Key)+" "+h.Desc)
		}
		s = " " + strings.Join(parts, " · ")
		if done {
			s = " " + st.bold.Styled("run over") + " ·" + s
		}
	}
	if a.width > 0 {
		s = ansi.Truncate(s, a.width, "…")
	}
	return s
}
