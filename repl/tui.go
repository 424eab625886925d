package repl

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"sort"
	"strings"

	"charm.land/bubbles/v2/textarea"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
)

// UI is the terminal front end of a session. Make it before loading the
// module, and give its Print and OnRun to builtins.LoadOptions, so that
// what the module prints and the flows it runs show in it.
type UI struct {
	box   *mailbox
	run   *runLog
	level runtime.Level
}

// NewUI makes a UI whose run pane shows log lines of level and above.
func NewUI(level runtime.Level) *UI {
	u := &UI{box: newMailbox(), run: &runLog{}, level: level}
	u.run.notify = func() { u.box.post(runChangedMsg{}) }
	return u
}

// printMsg is a line of print() output.
type printMsg string

// Print shows a line of print() output in the transcript.
func (u *UI) Print(msg string) { u.box.post(printMsg(msg)) }

// OnRun shows a flow run in the run pane.
func (u *UI) OnRun(r builtins.RunStart) runtime.Sink { return u.run.start(r, u.level) }

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

	input      textarea.Model
	transcript []string
	out        viewport.Model
	runView    viewport.Model
	run        runSnapshot
	hist       *History
	histPos    int    // index in history while browsing; Len() when not
	draft      string // the input before browsing history
	hint       string // completion candidates, or a tip

	width, height int
	running       bool               // a statement runs
	queue         []string           // entries typed ahead while one runs
	cancel        context.CancelFunc // stops the running statement
	follow        bool               // the transcript shows its end
	quitting      bool               // quit once it stops
	exitCode      int
}

var (
	promptStyle = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	errorStyle  = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	dimStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	headerStyle = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("15")).Background(lipgloss.Color("4")).Padding(0, 1)
	paneStyle   = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(lipgloss.Color("8"))
)

const (
	prompt1 = ">>> "
	prompt2 = "... "
	indent  = "    "
)

// NewModel makes the model of a session.
func (u *UI) NewModel(ctx context.Context, s *Session, opts UIOptions) *Model {
	m := &Model{ui: u, s: s, opts: opts, ctx: ctx, hist: opts.History, width: opts.Width, height: opts.Height}
	if m.hist == nil {
		m.hist, _ = LoadHistory("")
	}
	m.histPos = m.hist.Len()
	m.follow = true
	if m.width == 0 {
		m.width, m.height = 80, 24
	}
	m.input = textarea.New()
	m.input.ShowLineNumbers = false
	m.input.SetPromptFunc(len(prompt1), func(info textarea.PromptInfo) string {
		if info.LineNumber == 0 {
			return prompt1
		}
		return prompt2
	})
	st := m.input.Styles()
	st.Focused.CursorLine = lipgloss.NewStyle()
	st.Focused.Prompt = promptStyle
	st.Blurred.Prompt = promptStyle
	m.input.SetStyles(st)
	m.input.Focus()
	m.out = viewport.New()
	m.out.SoftWrap = true
	m.out.KeyMap = viewport.KeyMap{}
	m.runView = viewport.New()
	m.runView.SoftWrap = true
	m.runView.KeyMap = viewport.KeyMap{}
	for _, l := range opts.Banner {
		m.transcript = append(m.transcript, dimStyle.Render(l))
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
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		m.hint = ""
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		m.layout()
		return m, cmd
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// receive applies what the mailbox held, then listens again.
func (m *Model) receive(msgs batchMsg) tea.Cmd {
	var quit bool
	for _, msg := range msgs {
		switch msg := msg.(type) {
		case printMsg:
			m.appendLines(string(msg), lipgloss.NewStyle())
		case runChangedMsg:
			m.run = m.ui.run.snapshot()
		case evalDoneMsg:
			quit = m.evalDone(msg) || quit
		}
	}
	if quit || m.quitting && !m.running {
		return m.quit()
	}
	var next tea.Cmd
	if !m.running && len(m.queue) > 0 {
		src := m.queue[0]
		m.queue = m.queue[1:]
		next = m.start(src)
	}
	m.layout()
	return tea.Batch(next, m.ui.box.receive)
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
		m.appendLines(FormatError(msg.err), errorStyle)
	case msg.value != nil:
		m.appendLines(msg.value.String(), lipgloss.NewStyle())
	}
	return false
}

func (m *Model) appendLines(text string, style lipgloss.Style) {
	for _, l := range strings.Split(text, "\n") {
		m.transcript = append(m.transcript, style.Render(l))
	}
}

// key handles a key press: the REPL's own keys, else the input's.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "ctrl+c":
		return m.interrupt()
	case "ctrl+d":
		if m.input.Value() == "" {
			return m.quitNow()
		}
	case "enter":
		return m.enter()
	case "alt+enter", "ctrl+j":
		m.input.InsertString("\n")
		m.layout()
		return nil
	case "tab":
		m.complete()
		return nil
	case "up":
		if m.input.Line() == 0 {
			m.browse(-1)
			return nil
		}
	case "down":
		if m.input.Line() == m.input.LineCount()-1 {
			m.browse(+1)
			return nil
		}
	case "pgup":
		m.out.PageUp()
		m.follow = false
		return nil
	case "pgdown":
		m.out.PageDown()
		m.follow = m.out.AtBottom()
		return nil
	case "ctrl+l":
		m.transcript = nil
		m.layout()
		return nil
	}
	m.hint = ""
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	m.layout()
	return cmd
}

// interrupt stops the running statement, or drops the input.
func (m *Model) interrupt() tea.Cmd {
	switch {
	case m.running:
		m.cancel()
		m.queue = nil
	case m.input.Value() != "":
		m.echo(m.input.Value())
		m.transcript = append(m.transcript, errorStyle.Render("KeyboardInterrupt"))
		m.input.Reset()
		m.histPos = m.hist.Len()
	default:
		m.hint = "Ctrl-D or exit() quits"
	}
	m.layout()
	return nil
}

// quitNow quits, stopping a running statement (and its flow run) first.
func (m *Model) quitNow() tea.Cmd {
	if m.running {
		m.quitting = true
		m.queue = nil
		m.cancel()
		return nil
	}
	return m.quit()
}

// enter runs the input if it is a whole entry, else starts a new line.
// While a statement runs, the entry waits for its turn.
func (m *Model) enter() tea.Cmd {
	src := m.input.Value()
	if !Complete(src + "\n") {
		m.input.InsertString("\n")
		m.layout()
		return nil
	}
	m.input.Reset()
	m.hint = ""
	_ = m.hist.Add(src)
	m.histPos = m.hist.Len()
	m.draft = ""
	m.follow = true
	if m.running {
		m.queue = append(m.queue, src)
		m.layout()
		return nil
	}
	return m.start(src)
}

// start echoes an entry and runs it.
func (m *Model) start(src string) tea.Cmd {
	m.echo(src)
	m.running = true
	m.layout()
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
		m.transcript = append(m.transcript, promptStyle.Render(p)+l)
	}
}

// browse moves through the history: -1 older, +1 newer.
func (m *Model) browse(step int) {
	pos := m.histPos + step
	if pos < 0 || pos > m.hist.Len() {
		return
	}
	if m.histPos == m.hist.Len() {
		m.draft = m.input.Value()
	}
	m.histPos = pos
	if pos == m.hist.Len() {
		m.input.SetValue(m.draft)
	} else {
		m.input.SetValue(m.hist.At(pos))
	}
	m.layout()
}

// complete completes the word before the cursor, or indents.
func (m *Model) complete() {
	before := m.beforeCursor()
	line := before[strings.LastIndexByte(before, '\n')+1:]
	if strings.TrimSpace(line) == "" {
		m.input.InsertString(indent)
		return
	}
	start, cands := m.s.Completions(before)
	word := before[start:]
	switch {
	case len(cands) == 0:
		m.hint = ""
	case len(cands) == 1:
		m.input.InsertString(cands[0][len(word):])
		m.hint = ""
	default:
		if p := commonPrefix(cands); len(p) > len(word) {
			m.input.InsertString(p[len(word):])
		}
		m.hint = strings.Join(cands, "  ")
	}
	m.layout()
}

// beforeCursor is the input up to the cursor.
func (m *Model) beforeCursor() string {
	lines := strings.Split(m.input.Value(), "\n")
	row := min(m.input.Line(), len(lines)-1)
	cur := []rune(lines[row])
	col := min(m.input.Column(), len(cur))
	return strings.Join(append(lines[:row:row], string(cur[:col])), "\n")
}

// Layout: a header line, the body (transcript above the input, the run
// pane to their right once a flow has run) and a hint line.

func (m *Model) paneWidth() int {
	if m.run.title == "" || m.width < 60 {
		return 0
	}
	return m.width * 45 / 100
}

// layout sizes the parts after the window, the input or the content changed.
func (m *Model) layout() {
	bodyH := max(m.height-2, 3)
	leftW := m.width - m.paneWidth()
	inputH := min(max(m.input.LineCount(), 1), max(bodyH/2, 1))
	m.input.SetWidth(leftW)
	m.input.SetHeight(inputH)
	m.out.SetWidth(leftW)
	m.out.SetHeight(max(bodyH-inputH, 1))
	m.out.SetContentLines(m.transcript)
	if m.follow {
		m.out.GotoBottom()
	}
	if pw := m.paneWidth(); pw > 0 {
		m.runView.SetWidth(pw - 2)
		m.runView.SetHeight(max(bodyH-3, 1))
		m.runView.SetContentLines(m.run.lines)
		m.runView.GotoBottom()
	}
}

// View draws the model; it only reads it.
func (m *Model) View() tea.View {
	header := headerStyle.Width(m.width).Render(truncate("wfsh repl · "+m.opts.Title, m.width-2))
	left := lipgloss.JoinVertical(lipgloss.Left, m.out.View(), m.input.View())
	body := left
	if pw := m.paneWidth(); pw > 0 {
		body = lipgloss.JoinHorizontal(lipgloss.Top, lipgloss.NewStyle().Width(m.width-pw).Render(left), m.paneView(pw))
	}
	v := tea.NewView(lipgloss.JoinVertical(lipgloss.Left, header, body, m.statusLine()))
	v.AltScreen = true
	return v
}

func (m *Model) paneView(w int) string {
	title := fmt.Sprintf("Run %s · %s", m.run.title, m.run.state)
	style := lipgloss.NewStyle().Bold(true).Foreground(stateColor(m.run.state))
	content := lipgloss.JoinVertical(lipgloss.Left, style.Render(truncate(title, w-2)), m.runView.View())
	return paneStyle.Width(w).Render(content)
}

func (m *Model) statusLine() string {
	switch {
	case m.hint != "":
		return dimStyle.Render(truncate(m.hint, m.width))
	case m.running && len(m.queue) > 0:
		return dimStyle.Render(fmt.Sprintf("running… (%d more waiting) Ctrl-C interrupts", len(m.queue)))
	case m.running:
		return dimStyle.Render("running… Ctrl-C interrupts")
	}
	return dimStyle.Render("Enter runs · Tab completes · ↑↓ history · Ctrl-C interrupts · Ctrl-D quits")
}

func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	return string(r[:w-1]) + "…"
}

func stateColor(s runtime.State) color.Color {
	switch {
	case s == runtime.Running || s == runtime.Pending:
		return lipgloss.Color("12")
	case s.IsFailed() || s == runtime.Cancelled:
		return lipgloss.Color("9")
	case s.Successful():
		return lipgloss.Color("10")
	}
	return lipgloss.Color("11")
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
