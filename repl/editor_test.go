package repl

import "testing"

func TestEditor(t *testing.T) {
	e := newEditor()
	e.insert("def f():\n\treturn 1")
	if got, want := e.value(), "def f():\n    return 1"; got != want {
		t.Fatalf("value %q, want %q", got, want)
	}
	if e.row != 1 || e.col != 12 {
		t.Fatalf("cursor %d:%d, want 1:12", e.row, e.col)
	}
	e.wordLeft() // before "1"
	e.killWord() // "return "
	if got := e.value(); got != "def f():\n    1" {
		t.Errorf("after killWord: %q", got)
	}
	e.home()
	e.backspace() // joins the lines
	if got := e.value(); got != "def f():    1" || e.row != 0 || e.col != 8 {
		t.Errorf("after backspace at a line's start: %q at %d:%d", got, e.row, e.col)
	}
	e.newline()
	if !e.up() || e.up() {
		t.Errorf("up: want true once, then false on the first line")
	}
	e.end()
	e.del() // joins again
	if got := e.value(); got != "def f():    1" {
		t.Errorf("after del at a line's end: %q", got)
	}
	e.killStart()
	if got := e.value(); got != "    1" {
		t.Errorf("after killStart: %q", got)
	}
	e.set("ab")
	e.left()
	e.insert("é")
	e.killEnd()
	if got := e.before(); got != "aé" || e.value() != "aé" {
		t.Errorf("before %q, value %q", got, e.value())
	}
}

func TestEditorRender(t *testing.T) {
	e := newEditor()
	e.set("x = 1\nabcdefghij")
	lines, x, y := e.render(10, func(s string) string { return s }) // 6 cells for text
	want := []string{">>> x = 1", "... abcdef", "    ghij"}
	if len(lines) != len(want) {
		t.Fatalf("lines %q, want %q", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d %q, want %q", i, lines[i], want[i])
		}
	}
	if x != 8 || y != 2 {
		t.Errorf("cursor at %d,%d, want 8,2", x, y)
	}
	e.set("abcdef") // exactly full: the cursor starts the next line
	lines, x, y = e.render(10, func(s string) string { return s })
	if len(lines) != 2 || x != 4 || y != 1 {
		t.Errorf("full line: %q, cursor %d,%d, want 2 lines and 4,1", lines, x, y)
	}
}
