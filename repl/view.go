package repl

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

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
