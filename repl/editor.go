package repl

import (
	"strings"
	"unicode"

	"github.com/charmbracelet/x/ansi"
)

// editor is the prompt's input: lines of runes and a cursor. It knows
// nothing of keys or drawing beyond what it is asked.
type editor struct {
	lines    [][]rune // never empty
	row, col int      // the cursor: col is a rune index in lines[row]
}

func newEditor() *editor { return &editor{lines: [][]rune{nil}} }

// value is the input, lines joined by "\n".
func (e *editor) value() string {
	parts := make([]string, len(e.lines))
	for i, l := range e.lines {
		parts[i] = string(l)
	}
	return strings.Join(parts, "\n")
}

// set replaces the input with s, the cursor at its end.
func (e *editor) set(s string) {
	e.lines = e.lines[:0]
	for _, l := range strings.Split(s, "\n") {
		e.lines = append(e.lines, []rune(l))
	}
	e.row = len(e.lines) - 1
	e.col = len(e.lines[e.row])
}

func (e *editor) reset() { e.set("") }

func (e *editor) empty() bool { return len(e.lines) == 1 && len(e.lines[0]) == 0 }

// before is the input up to the cursor.
func (e *editor) before() string {
	parts := make([]string, e.row+1)
	for i := 0; i < e.row; i++ {
		parts[i] = string(e.lines[i])
	}
	parts[e.row] = string(e.lines[e.row][:e.col])
	return strings.Join(parts, "\n")
}

// insert types s at the cursor; "\n" (or "\r\n", "\r") starts a new line
// and a tab becomes four spaces. Other control characters are dropped.
func (e *editor) insert(s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\t", indent)
	for _, r := range s {
		switch {
		case r == '\n':
			e.newline()
		case unicode.IsControl(r):
		default:
			l := e.lines[e.row]
			l = append(l[:e.col], append([]rune{r}, l[e.col:]...)...)
			e.lines[e.row] = l
			e.col++
		}
	}
}

func (e *editor) newline() {
	l := e.lines[e.row]
	rest := append([]rune(nil), l[e.col:]...)
	e.lines[e.row] = l[:e.col:e.col]
	e.lines = append(e.lines[:e.row+1], append([][]rune{rest}, e.lines[e.row+1:]...)...)
	e.row++
	e.col = 0
}

// backspace deletes before the cursor, joining lines at a line's start.
func (e *editor) backspace() {
	switch {
	case e.col > 0:
		l := e.lines[e.row]
		e.lines[e.row] = append(l[:e.col-1], l[e.col:]...)
		e.col--
	case e.row > 0:
		prev := e.lines[e.row-1]
		e.col = len(prev)
		e.lines[e.row-1] = append(prev, e.lines[e.row]...)
		e.lines = append(e.lines[:e.row], e.lines[e.row+1:]...)
		e.row--
	}
}

// del deletes under the cursor, joining lines at a line's end.
func (e *editor) del() {
	l := e.lines[e.row]
	switch {
	case e.col < len(l):
		e.lines[e.row] = append(l[:e.col], l[e.col+1:]...)
	case e.row < len(e.lines)-1:
		e.lines[e.row] = append(l, e.lines[e.row+1]...)
		e.lines = append(e.lines[:e.row+1], e.lines[e.row+2:]...)
	}
}

func (e *editor) left() {
	switch {
	case e.col > 0:
		e.col--
	case e.row > 0:
		e.row--
		e.col = len(e.lines[e.row])
	}
}

func (e *editor) right() {
	switch {
	case e.col < len(e.lines[e.row]):
		e.col++
	case e.row < len(e.lines)-1:
		e.row++
		e.col = 0
	}
}

func (e *editor) home() { e.col = 0 }
func (e *editor) end()  { e.col = len(e.lines[e.row]) }

// up and down move between lines; they report false on the first (last)
// line, where the prompt browses the history instead.
func (e *editor) up() bool {
	if e.row == 0 {
		return false
	}
	e.row--
	e.col = min(e.col, len(e.lines[e.row]))
	return true
}

func (e *editor) down() bool {
	if e.row == len(e.lines)-1 {
		return false
	}
	e.row++
	e.col = min(e.col, len(e.lines[e.row]))
	return true
}

// killStart deletes from the line's start to the cursor (Ctrl-U).
func (e *editor) killStart() {
	e.lines[e.row] = append([]rune(nil), e.lines[e.row][e.col:]...)
	e.col = 0
}

// killEnd deletes from the cursor to the line's end (Ctrl-K).
func (e *editor) killEnd() { e.lines[e.row] = e.lines[e.row][:e.col] }

// wordStart is where the word before the cursor starts on its line.
func (e *editor) wordStart() int {
	l, i := e.lines[e.row], e.col
	for i > 0 && !isWordRune(l[i-1]) {
		i--
	}
	for i > 0 && isWordRune(l[i-1]) {
		i--
	}
	return i
}

// killWord deletes the word before the cursor (Ctrl-W, Alt-Backspace).
func (e *editor) killWord() {
	if e.col == 0 {
		e.backspace()
		return
	}
	i := e.wordStart()
	l := e.lines[e.row]
	e.lines[e.row] = append(l[:i], l[e.col:]...)
	e.col = i
}

func (e *editor) wordLeft() {
	if e.col == 0 {
		e.left()
		return
	}
	e.col = e.wordStart()
}

func (e *editor) wordRight() {
	l := e.lines[e.row]
	if e.col == len(l) {
		e.right()
		return
	}
	for e.col < len(l) && !isWordRune(l[e.col]) {
		e.col++
	}
	for e.col < len(l) && isWordRune(l[e.col]) {
		e.col++
	}
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// render draws the input in width cells, each line after its prompt and
// wrapped under it, and returns the screen lines and the cursor's place.
func (e *editor) render(width int, prompt func(string) string) (lines []string, x, y int) {
	avail := max(width-len(prompt1), 1)
	for i, l := range e.lines {
		p := prompt1
		if i > 0 {
			p = prompt2
		}
		chunks := wrapRunes(l, avail)
		if i == e.row {
			cx, cy := cursorIn(l[:e.col], avail)
			x, y = len(prompt1)+cx, len(lines)+cy
			if cy >= len(chunks) { // a full line: the cursor starts the next
				chunks = append(chunks, "")
			}
		}
		for j, c := range chunks {
			if j > 0 {
				p = strings.Repeat(" ", len(prompt1))
			}
			lines = append(lines, prompt(p)+c)
		}
	}
	return lines, x, y
}

// wrapRunes cuts l into pieces of at most w cells.
func wrapRunes(l []rune, w int) []string {
	var out []string
	var b strings.Builder
	cells := 0
	for _, r := range l {
		rw := max(ansi.StringWidth(string(r)), 0)
		if cells+rw > w && cells > 0 {
			out = append(out, b.String())
			b.Reset()
			cells = 0
		}
		b.WriteRune(r)
		cells += rw
	}
	return append(out, b.String())
}

// cursorIn is where the cursor stands after the runes before it, in a
// line wrapped at w cells: at the start of the next piece once a piece is
// full.
func cursorIn(before []rune, w int) (x, y int) {
	for _, r := range before {
		rw := max(ansi.StringWidth(string(r)), 0)
		if x+rw > w && x > 0 {
			x, y = 0, y+1
		}
		x += rw
	}
	if x >= w {
		x, y = 0, y+1
	}
	return x, y
}
