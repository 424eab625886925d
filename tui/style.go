package tui

import (
	"github.com/charmbracelet/x/ansi"

	"github.com/wfsh/wfsh/runtime"
)

// styles are the SGR sequences of the view, built once per Model (the
// package has no init-time work: linking it costs `wfsh run` nothing).
// Colours are the 16 basic ones, which follow the user's terminal theme;
// bubbletea downgrades or strips them for the terminal (NO_COLOR included).
type styles struct {
	state    [numStates]ansi.Style
	faint    ansi.Style
	bold     ansi.Style
	selected ansi.Style
	title    ansi.Style
	warn     ansi.Style
	err      ansi.Style
	barDone  ansi.Style
	barFail  ansi.Style
	barLeft  ansi.Style
}

func newStyles() *styles {
	fg := func(c ansi.BasicColor) ansi.Style { return ansi.Style{}.ForegroundColor(c) }
	s := &styles{
		faint:    ansi.Style{}.Faint(),
		bold:     ansi.Style{}.Bold(),
		selected: ansi.Style{}.Reverse(true),
		title:    ansi.Style{}.Bold().ForegroundColor(ansi.Blue),
		warn:     fg(ansi.Yellow),
		err:      fg(ansi.Red).Bold(),
		barDone:  fg(ansi.Green),
		barFail:  fg(ansi.Red),
		barLeft:  ansi.Style{}.Faint(),
	}
	s.state = [...]ansi.Style{
		runtime.Pending:       ansi.Style{}.Faint(),
		runtime.Running:       fg(ansi.Cyan).Bold(),
		runtime.Success:       fg(ansi.Green),
		runtime.Failed:        fg(ansi.Red).Bold(),
		runtime.TriggerFailed: fg(ansi.Red),
		runtime.Skipped:       fg(ansi.BrightBlack),
		runtime.Mapped:        fg(ansi.Green),
		runtime.Retrying:      fg(ansi.Yellow).Bold(),
		runtime.Cached:        fg(ansi.BrightGreen),
		runtime.TimedOut:      fg(ansi.Red),
		runtime.Cancelled:     fg(ansi.Magenta),
		runtime.Crashed:       fg(ansi.BrightRed).Bold(),
		runtime.Waiting:       fg(ansi.Yellow),
	}
	return s
}

// stateStyle is the colour of st.
func (s *styles) stateStyle(st runtime.State) ansi.Style {
	if int(st) < len(s.state) {
		return s.state[st]
	}
	return nil
}
