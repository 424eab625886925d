package repl

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"
)

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
