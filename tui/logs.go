package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/wfsh/wfsh/runtime"
)

// maxLogLines bounds the lines kept per task run: beyond it the oldest
// tenth is dropped (the run store keeps every line: `wfsh logs`).
const maxLogLines = 5000

type logLine struct {
	t     int64 // Unix nanoseconds
	level runtime.Level
	text  string
}

// logBuf is the log of one task run, as the pane shows it.
type logBuf struct {
	lines   []logLine
	dropped int
}

// logTo appends msg, one line per line of it, to the log of run r.
func (m *Model) logTo(r ref, e *runtime.Event, level runtime.Level, msg string) {
	b := m.logs[r]
	if b == nil {
		b = &logBuf{}
		m.logs[r] = b
	}
	t := e.Time.UnixNano()
	for line := range strings.SplitSeq(strings.TrimRight(msg, "\n"), "\n") {
		if len(b.lines) >= maxLogLines {
			drop := maxLogLines / 10
			b.lines = append(b.lines[:0], b.lines[drop:]...)
			b.dropped += drop
		}
		b.lines = append(b.lines, logLine{t: t, level: level, text: clean(line)})
	}
	if r == m.sel && m.logScroll > 0 {
		m.logScroll += strings.Count(msg, "\n") + 1 // keep the lines read in place
	}
}

// clean makes a line of task output safe to draw: escape sequences and
// control characters would move the cursor or change colours.
func clean(s string) string {
	if !needsCleaning(s) {
		return s
	}
	s = ansi.Strip(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsCleaning(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
