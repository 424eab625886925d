package repl

import (
	"context"
	"errors"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/tui"
)

// Model is the REPL's bubbletea model: a transcript, the input below it,
// and, once a flow has run, the run pane beside them.
type Model struct {
	ui   *UI
	s    *Session
	opts UIOptions
	ctx  context.Context
	st   *styles

	in       *editor
	out      transcript
	scroll   int // screen lines scrolled back from the transcript's end
	hist     *History
	histPos  int    // index in history while browsing; Len() when not
	draft    string // the input before browsing history
	hint     string // completion candidates, or a tip
	pane     *tui.Model
	paneKeys bool // keys go to the run pane

	width, height int
	running       bool               // a statement runs
	typeahead     []tea.Msg          // keys and pastes that wait for it to end
	cancel        context.CancelFunc // stops the running statement
	quitting      bool               // quit once it stops
	exitCode      int
}

// styles are the SGR sequences of the REPL, built per Model: the package
// does no work at init.
type styles struct {
	prompt, err, faint, header ansi.Style
}

func newStyles() *styles {
	return &styles{
		prompt: ansi.Style{}.Faint(),
		err:    ansi.Style{}.ForegroundColor(ansi.Red),
		faint:  ansi.Style{}.Faint(),
		header: ansi.Style{}.Bold().Reverse(true),
	}
}

const (
	prompt1 = ">>> "
	prompt2 = "... "
	indent  = "    "
)

// NewModel makes the model of a session.
func (u *UI) NewModel(ctx context.Context, s *Session, opts UIOptions) *Model {
	m := &Model{ui: u, s: s, opts: opts, ctx: ctx, st: newStyles(), in: newEditor(), hist: opts.History,
		width: opts.Width, height: opts.Height}
	if m.hist == nil {
		m.hist, _ = LoadHistory("")
	}
	m.histPos = m.hist.Len()
	if m.width == 0 {
		m.width, m.height = 80, 24
	}
	for _, l := range opts.Banner {
		m.out.add(m.st.faint.Styled(l))
	}
	m.layout()
	return m
}

// Init starts listening for the session's output.
func (m *Model) Init() tea.Cmd { return m.ui.box.receive }

// ExitCode is the status exit(code) asked for, else 0.
func (m *Model) ExitCode() int { return m.exitCode }

// Update handles keys, the window size and what the session reports.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case batchMsg:
		return m, m.receive(msg)
	case closedMsg:
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		if m.running {
			m.typeahead = append(m.typeahead, msg)
			return m, nil
		}
		m.hint = ""
		m.in.insert(msg.Content)
		return m, nil
	}
	if m.pane != nil {
		return m, m.pane.Update(msg) // its clock
	}
	return m, nil
}

// receive applies what the mailbox held, then listens again.
func (m *Model) receive(msgs batchMsg) tea.Cmd {
	var cmds []tea.Cmd
	var quit bool
	var events []runtime.Event
	flush := func() {
		if len(events) > 0 {
			m.pane.Apply(events)
			events = events[:0]
		}
	}
	for _, msg := range msgs {
		if ev, ok := msg.(runEventMsg); ok {
			if ev.pane == m.pane {
				events = append(events, ev.e)
			}
			continue
		}
		flush()
		switch msg := msg.(type) {
		case printMsg:
			m.out.add(string(msg))
		case runStartedMsg:
			m.pane = msg.pane
			cmds = append(cmds, m.pane.Init())
			m.layout()
		case evalDoneMsg:
			quit = m.evalDone(msg) || quit
		}
	}
	flush()
	if quit || m.quitting && !m.running {
		return m.quit()
	}
	cmds = append(cmds, m.replay())
	return tea.Batch(append(cmds, m.ui.box.receive)...)
}

func (m *Model) quit() tea.Cmd {
	m.quitting = true
	m.ui.box.close()
	return tea.Quit
}

// evalDoneMsg reports the end of a statement.
type evalDoneMsg struct {
	value starlark.Value
	err   error
}

// evalDone shows a statement's outcome; it reports whether to quit.
func (m *Model) evalDone(msg evalDoneMsg) bool {
	m.running = false
	var exit *ExitError
	switch {
	case errors.As(msg.err, &exit):
		m.exitCode = exit.Code
		return true
	case msg.err != nil:
		for _, l := range strings.Split(m.s.Redact(FormatError(msg.err)), "\n") {
			m.out.add(m.st.err.Styled(l))
		}
	case msg.value != nil:
		m.out.add(m.s.Redact(msg.value.String()))
	}
	return false
}

// replay applies what was typed while a statement ran, as if typed now,
// until an entry starts to run again.
func (m *Model) replay() tea.Cmd {
	for len(m.typeahead) > 0 && !m.running {
		msg := m.typeahead[0]
		m.typeahead = m.typeahead[1:]
		switch msg := msg.(type) {
		case tea.KeyPressMsg:
			if cmd := m.edit(msg); cmd != nil {
				return cmd
			}
		case tea.PasteMsg:
			m.in.insert(msg.Content)
		}
	}
	return nil
}
