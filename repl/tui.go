package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"

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
