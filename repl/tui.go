package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/tui"
)

// UI is the terminal front end of a session. Make it before loading the
// module, and give its Print and OnRun to builtins.LoadOptions, so that
// what the module prints and the flows it runs show in it.
//
// It styles with x/ansi and draws its own input and transcript: lipgloss
// (and the bubbles widgets built on it) would cost every wfsh command a
// terminal probe at start-up.
type UI struct {
	box *mailbox
}

// NewUI makes a UI.
func NewUI() *UI { return &UI{box: newMailbox()} }

// printMsg is a line of print() output.
type printMsg string

// Print shows a line of print() output in the transcript.
func (u *UI) Print(msg string) { u.box.post(printMsg(msg)) }

// runStartedMsg brings the pane of a run that starts.
type runStartedMsg struct{ pane *tui.Model }

// runEventMsg is an event of the run shown in pane.
type runEventMsg struct {
	pane *tui.Model
	e    runtime.Event
}

// OnRun shows a flow run in the run pane: the live view of `wfsh run
// --tui`, fed through the mailbox, so that a run's events are all applied
// before the statement that ran it is reported done.
func (u *UI) OnRun(r builtins.RunStart) runtime.Sink {
	pane := tui.New(tui.Options{Graph: r.Graph, Flow: r.Flow, RunID: r.RunID})
	u.box.post(runStartedMsg{pane})
	return runtime.SinkFunc(func(e runtime.Event) { u.box.post(runEventMsg{pane, e}) })
}

// UIOptions configure the model.
type UIOptions struct {
	Title   string   // the header: the flow file
	Banner  []string // lines the transcript starts with
	History *History // nil: in memory
	// Width and Height are the size before the terminal tells it.
	Width, Height int
}

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

// key handles a key press: the REPL's own keys, the run pane's while it
// has them, else the input's. While a statement runs, keys for the input
// wait (typeahead): they are applied, in order, once it has ended, so
// that Tab completes and Enter runs with what it defined.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "ctrl+c":
		return m.interrupt()
	case "ctrl+d":
		if m.in.empty() && len(m.typeahead) == 0 {
			return m.quitNow()
		}
	case "esc":
		m.paneKeys = m.pane != nil && !m.paneKeys
		return nil
	case "pgup":
		m.scrollBy(m.outHeight() - 1)
		return nil
	case "pgdown":
		m.scrollBy(-(m.outHeight() - 1))
		return nil
	case "ctrl+l":
		m.out = transcript{}
		m.scroll = 0
		return nil
	}
	if m.paneKeys {
		return m.pane.Update(k)
	}
	if m.running {
		m.typeahead = append(m.typeahead, k)
		return nil
	}
	m.hint = ""
	return m.edit(k)
}

// edit applies a key to the input; Enter may start a statement.
func (m *Model) edit(k tea.KeyPressMsg) tea.Cmd {
	e := m.in
	switch k.String() {
	case "enter":
		return m.enter()
	case "alt+enter", "ctrl+j":
		e.newline()
	case "tab":
		m.complete()
	case "up", "ctrl+p":
		if !e.up() {
			m.browse(-1)
		}
	case "down", "ctrl+n":
		if !e.down() {
			m.browse(+1)
		}
	case "left", "ctrl+b":
		e.left()
	case "right", "ctrl+f":
		e.right()
	case "home", "ctrl+a":
		e.home()
	case "end", "ctrl+e":
		e.end()
	case "backspace", "ctrl+h":
		e.backspace()
	case "delete", "ctrl+d":
		e.del()
	case "ctrl+u":
		e.killStart()
	case "ctrl+k":
		e.killEnd()
	case "ctrl+w", "alt+backspace":
		e.killWord()
	case "alt+b", "ctrl+left", "alt+left":
		e.wordLeft()
	case "alt+f", "ctrl+right", "alt+right":
		e.wordRight()
	default:
		if k.Text != "" && k.Mod&(tea.ModCtrl|tea.ModAlt) == 0 {
			e.insert(k.Text)
		}
	}
	return nil
}

// interrupt stops the running statement, or drops the input.
func (m *Model) interrupt() tea.Cmd {
	switch {
	case m.running:
		m.cancel()
		m.typeahead = nil
	case !m.in.empty():
		m.echo(m.in.value())
		m.out.add(m.st.err.Styled("KeyboardInterrupt"))
		m.in.reset()
		m.histPos = m.hist.Len()
	default:
		m.hint = "Ctrl-D or exit() quits"
	}
	return nil
}

// quitNow quits, stopping a running statement (and its flow run) first.
func (m *Model) quitNow() tea.Cmd {
	if m.running {
		m.quitting = true
		m.typeahead = nil
		m.cancel()
		return nil
	}
	return m.quit()
}

// enter runs the input if it is a whole entry, else starts a new line.
func (m *Model) enter() tea.Cmd {
	src := m.in.value()
	if !Complete(src + "\n") {
		m.in.newline()
		return nil
	}
	m.in.reset()
	if err := m.hist.Add(src); err != nil {
		m.out.add(m.st.err.Styled("wfsh: " + err.Error()))
	}
	m.histPos = m.hist.Len()
	m.draft = ""
	m.scroll = 0
	return m.start(src)
}

// start echoes an entry and runs it.
func (m *Model) start(src string) tea.Cmd {
	m.echo(src)
	m.running = true
	ctx, cancel := context.WithCancel(m.ctx)
	m.cancel = cancel
	s, box := m.s, m.ui.box
	return func() tea.Msg {
		defer cancel()
		v, err := s.Eval(ctx, src+"\n")
		box.post(evalDoneMsg{value: v, err: err})
		return nil
	}
}

// echo copies an entry to the transcript with its prompts.
func (m *Model) echo(src string) {
	for i, l := range strings.Split(src, "\n") {
		p := prompt1
		if i > 0 {
			p = prompt2
		}
		m.out.add(m.st.prompt.Styled(p) + l)
	}
}

// browse moves through the history: -1 older, +1 newer.
func (m *Model) browse(step int) {
	pos := m.histPos + step
	if pos < 0 || pos > m.hist.Len() {
		return
	}
	if m.histPos == m.hist.Len() {
		m.draft = m.in.value()
	}
	m.histPos = pos
	if pos == m.hist.Len() {
		m.in.set(m.draft)
	} else {
		m.in.set(m.hist.At(pos))
	}
}

// complete completes the word before the cursor, or indents.
func (m *Model) complete() {
	before := m.in.before()
	line := before[strings.LastIndexByte(before, '\n')+1:]
	if strings.TrimSpace(line) == "" {
		m.in.insert(indent)
		return
	}
	start, cands := m.s.Completions(before)
	word := before[start:]
	switch {
	case len(cands) == 1:
		m.in.insert(cands[0][len(word):])
	case len(cands) > 1:
		if p := commonPrefix(cands); len(p) > len(word) {
			m.in.insert(p[len(word):])
		}
		m.hint = strings.Join(cands, "  ")
	}
}

func (m *Model) scrollBy(n int) {
	m.scroll = min(max(m.scroll+n, 0), max(m.out.height(m.leftWidth())-m.outHeight(), 0))
}

// Layout: a header line; the body, where the transcript sits above the
// input and the run pane, once a flow has run, to their right (above
// them on a narrow terminal); a status line.

func (m *Model) bodyHeight() int { return max(m.height-2, 1) }

// paneBeside reports whether the run pane goes right of the prompt.
func (m *Model) paneBeside() bool { return m.width >= 90 }

func (m *Model) paneWidth() int {
	switch {
	case m.pane == nil:
		return 0
	case m.paneBeside():
		return m.width / 2
	}
	return m.width
}

func (m *Model) paneHeight() int {
	switch {
	case m.pane == nil:
		return 0
	case m.paneBeside():
		return m.bodyHeight()
	}
	return m.bodyHeight() / 2
}

func (m *Model) leftWidth() int {
	if m.pane != nil && m.paneBeside() {
		return max(m.width-m.paneWidth()-1, 1)
	}
	return max(m.width, 1)
}

// leftHeight is the height of the transcript and the input.
func (m *Model) leftHeight() int {
	if m.pane != nil && !m.paneBeside() {
		return max(m.bodyHeight()-m.paneHeight(), 2)
	}
	return m.bodyHeight()
}

func (m *Model) outHeight() int {
	lines, _, _ := m.in.render(m.leftWidth(), m.st.prompt.Styled)
	return max(m.leftHeight()-min(len(lines), m.leftHeight()/2), 1)
}

// layout sizes the run pane after the window or the pane changed.
func (m *Model) layout() {
	if m.pane != nil {
		m.pane.SetSize(m.paneWidth(), m.paneHeight())
	}
}

// View draws the model; it only reads it.
func (m *Model) View() tea.View {
	w := m.leftWidth()
	in, cx, cy := m.in.render(w, m.st.prompt.Styled)
	if most := m.leftHeight() / 2; len(in) > most { // keep the cursor's line in sight
		from := min(max(cy-most+1, 0), len(in)-most)
		in, cy = in[from:from+most], cy-from
	}
	outH := max(m.leftHeight()-len(in), 0)
	left := append(m.out.window(w, outH, m.scroll), in...)
	var body []string
	top := 1 // the header
	switch {
	case m.pane == nil:
		body = left
	case m.paneBeside():
		body = beside(left, w, strings.Split(m.pane.View(), "\n"), m.faintBar())
	default:
		pane := strings.Split(m.pane.View(), "\n")
		body = append(pane, left...)
		top += len(pane)
	}
	screen := append([]string{m.header()}, body...)
	screen = append(screen, m.status())
	v := tea.NewView(strings.Join(screen, "\n"))
	v.AltScreen = true
	v.WindowTitle = "wfsh repl: " + m.opts.Title
	if !m.paneKeys {
		v.Cursor = tea.NewCursor(cx, top+outH+cy)
	}
	return v
}

func (m *Model) faintBar() string { return m.st.faint.Styled("│") }

// beside joins left (w cells wide, padded) and right line by line, with a
// bar between them.
func beside(left []string, w int, right []string, bar string) []string {
	n := max(len(left), len(right))
	out := make([]string, n)
	for i := range n {
		var l, r string
		if i < len(left) {
			l = left[i]
		}
		if i < len(right) {
			r = right[i]
		}
		out[i] = pad(l, w) + bar + r
	}
	return out
}

// pad cuts or fills s to exactly w cells.
func pad(s string, w int) string {
	if sw := ansi.StringWidth(s); sw > w {
		return ansi.Truncate(s, w, "…")
	} else if sw < w {
		return s + strings.Repeat(" ", w-sw)
	}
	return s
}

func (m *Model) header() string {
	title := "wfsh repl · " + m.opts.Title
	if m.paneKeys {
		title += " · keys go to the run pane (Esc: back to the prompt)"
	}
	return m.st.header.Styled(pad(" "+title, m.width))
}

func (m *Model) status() string {
	var s string
	switch {
	case m.hint != "":
		s = m.hint
	case m.paneKeys:
		var parts []string
		for _, b := range m.pane.KeyMap().ShortHelp() {
			h := b.Help()
			parts = append(parts, h.Key+" "+h.Desc)
		}
		s = strings.Join(append(parts, "esc prompt"), " · ")
	case m.running && len(m.typeahead) > 0:
		s = fmt.Sprintf("running… · %d keys typed ahead · Ctrl-C interrupts", len(m.typeahead))
	case m.running:
		s = "running… · Ctrl-C interrupts"
	case m.pane != nil:
		s = "Enter runs · Tab completes · ↑↓ history · Esc run pane · Ctrl-D quits"
	default:
		s = "Enter runs · Tab completes · ↑↓ history · Ctrl-C interrupts · Ctrl-D quits"
	}
	return m.st.faint.Styled(ansi.Truncate(s, m.width, "…"))
}

// transcript is what the session showed: lines, possibly styled, kept up
// to maxTranscript, and drawn wrapped to the width.
type transcript struct {
	lines []string
}

const maxTranscript = 10000

func (t *transcript) add(s string) {
	for _, l := range strings.Split(s, "\n") {
		t.lines = append(t.lines, l)
	}
	if over := len(t.lines) - maxTranscript; over > 0 {
		t.lines = append(t.lines[:0:0], t.lines[over:]...)
	}
}

// window returns h screen lines, w cells wide, ending scroll lines before
// the end, top-padded with blank lines. Only the lines it needs are
// wrapped.
func (t *transcript) window(w, h, scroll int) []string {
	if h <= 0 {
		return nil
	}
	var rev []string // screen lines, last first
	for i := len(t.lines) - 1; i >= 0 && len(rev) < h+scroll; i-- {
		wrapped := strings.Split(ansi.Hardwrap(t.lines[i], w, true), "\n")
		for j := len(wrapped) - 1; j >= 0; j-- {
			rev = append(rev, wrapped[j])
		}
	}
	rev = rev[min(scroll, len(rev)):]
	out := make([]string, h)
	for i := 0; i < h && i < len(rev); i++ {
		out[h-1-i] = rev[i]
	}
	return out
}

// height is the number of screen lines of the whole transcript at w cells.
func (t *transcript) height(w int) int {
	n := 0
	for _, l := range t.lines {
		n += strings.Count(ansi.Hardwrap(l, w, true), "\n") + 1
	}
	return n
}

// Run runs the REPL on a terminal until the user quits, and returns the
// status exit(code) asked for. A statement still running then (after an
// interrupt from outside) is stopped and waited for: no flow run outlives
// the REPL.
func (u *UI) Run(ctx context.Context, s *Session, opts UIOptions, in io.Reader, out io.Writer) (int, error) {
	m := u.NewModel(ctx, s, opts)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	_, err := p.Run()
	u.box.close()
	s.Interrupt()
	s.Wait()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		err = nil
	}
	return m.ExitCode(), err
}

// Banner is what the REPL says first: the file, its flows and which one
// `flow` stands for.
func Banner(m *builtins.Module, bound *builtins.Flow) []string {
	names := map[*builtins.Flow][]string{}
	for k, v := range m.Globals {
		if f, ok := v.(*builtins.Flow); ok {
			names[f] = append(names[f], k)
		}
	}
	var lines []string
	for _, f := range m.Flows {
		vars := names[f]
		sort.Strings(vars)
		line := fmt.Sprintf("flow %q is %s", f.Name(), strings.Join(vars, ", "))
		if f == bound {
			line += ", and `flow` at this prompt"
		}
		lines = append(lines, line)
	}
	if bound == nil && len(m.Flows) > 1 {
		lines = append(lines, "several flows: start with --flow NAME to bind one to `flow`")
	}
	return append(lines, "a block or a decorated def goes on until a blank line; exit() or Ctrl-D quits")
}
