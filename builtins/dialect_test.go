package builtins

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

func TestParseFileRewritesStackedDecorators(t *testing.T) {
	src := "@a\n@b.c(\n  1,\n)\ndef f():\n    pass\n"
	f, err := ParseFile("x.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Stmts) != 2 {
		t.Fatalf("got %d statements, want def + assignment", len(f.Stmts))
	}
	if pos := syntax.Start(f.Stmts[0]); pos.Line != 5 || pos.Col != 1 {
		t.Errorf("def at %v, want 5:1", pos)
	}
	assign := f.Stmts[1].(*syntax.AssignStmt)
	if name := assign.LHS.(*syntax.Ident).Name; name != "f" {
		t.Errorf("assigns %s, want f", name)
	}
	outer := assign.RHS.(*syntax.CallExpr)
	inner := outer.Args[0].(*syntax.CallExpr)
	checkCall(t, outer, "a", 1)
	checkCall(t, inner, "b.c(...)", 2)
	if arg := inner.Args[0].(*syntax.Ident); arg.Name != "f" {
		t.Errorf("innermost argument %s, want f", arg.Name)
	}
}

// checkCall checks a decorator call: its callee and its position (the '@').
func checkCall(t *testing.T, call *syntax.CallExpr, fn string, line int32) {
	t.Helper()
	if got := exprString(call.Fn); got != fn {
		t.Errorf("decorator %s, want %s", got, fn)
	}
	if call.Lparen.Line != line || call.Lparen.Col != 1 {
		t.Errorf("decorator %s placed at %v, want %d:1", fn, call.Lparen, line)
	}
}

func exprString(e syntax.Expr) string {
	switch e := e.(type) {
	case *syntax.Ident:
		return e.Name
	case *syntax.DotExpr:
		return exprString(e.X) + "." + e.Name.Name
	case *syntax.CallExpr:
		return exprString(e.Fn) + "(...)"
	}
	return "?"
}

func TestParseFileErrors(t *testing.T) {
	for _, test := range []struct{ src, want string }{
		{"@deco\nx = 1\n", "x.star:1:1: decorator must be followed by a def statement"},
		{"@a\n@b\n", "x.star:1:1: decorator must be followed by a def statement"},
		{"if x:\n  @a\n  y = 1\n", "x.star:2:3: decorator must be followed by a def statement"},
		{"def f():\n\t@a\n\treturn\n", "x.star:2:2: decorator must be followed by a def statement"},
		{"x = 1 @ 2\n", "x.star:1:7: unexpected input character '@'"},
		{"f(1,\n  @a)\n", "x.star:2:3: unexpected input character '@'"},
		{"x = (\n@a)\n", "x.star:2:1: unexpected input character '@'"},
		{"@a = 1\n", "x.star:1:1: unexpected input character '@'"},
		{"@a, b\ndef f(): pass\n", "x.star:1:1: unexpected input character '@'"},
		{"s = 'é'; t = 'ü' @ 1\n", "x.star:1:18: unexpected input character '@'"},
		{"@\ndef f(): pass\n", "x.star:1:2: got newline, want primary expression"},
		// A later decorator error does not hide an earlier stray '@'.
		{"f(1,\n@a)\n@b\nx = 1\n", "x.star:2:1: unexpected input character '@'"},
	} {
		_, err := ParseFile("x.star", []byte(test.src))
		if err == nil || err.Error() != test.want {
			t.Errorf("ParseFile(%q) = %v, want %s", test.src, err, test.want)
		}
		if !errors.As(err, new(syntax.Error)) {
			t.Errorf("ParseFile(%q) returned %T, want syntax.Error", test.src, err)
		}
	}
}

// The parser's "got X, want Y" errors point at X's first character.
func TestParseFileTokenStart(t *testing.T) {
	for _, test := range []struct{ src, want string }{
		{"def add(a, b:\n    return a\n", "x.star:1:13: got ':', want ')'"},
		{"def add(a, b)\n    return a\n", "x.star:1:14: got newline, want ':'"},
		{"def add(a, b)  # sum\n    return a\n", "x.star:1:21: got newline, want ':'"},
		{"x = (1\nyy = 2\n", "x.star:2:1: got identifier, want ')'"},
		{"x = [1 22]\n", "x.star:1:8: got int literal, want ']'"},
		{"x = f(1 'ab\\'c')\n", "x.star:1:9: got string literal, want ','"},
		{"x = f(1 r\"\"\"a\n\"\"\")\n", "x.star:1:9: got string literal, want ','"},
		{"if x = 1:\n  pass\n", "x.star:1:6: got '=', want ':'"},
		{"for in y:\n  pass\n", "x.star:1:5: got in, want primary expression"},
		{"x = 1 +\n", "x.star:1:8: got newline, want primary expression"},
	} {
		_, err := ParseFile("x.star", []byte(test.src))
		if err == nil || err.Error() != test.want {
			t.Errorf("ParseFile(%q) = %v, want %s", test.src, err, test.want)
		}
	}
}

// Syntax errors after decorators are the parser's own: the same as
// without the decorator lines.
func TestParseFileKeepsSyntaxErrors(t *testing.T) {
	for _, src := range []string{
		"@a\ndef f(:\n  pass\n",
		"@a(1,\n  2)\ndef f():\n  return (1\nx = 2\n",
		"def g():\n    @a\n    def f():\n      x = 1\n        y = 2\n",
		"@a\ndef f():\n  s = 'unterminated\n",
		"@a\ndef f():\nx = 1\n",
		"@a\n@b\ndef f(): pass\ndef g(:\n",
	} {
		_, got := ParseFile("x.star", []byte(src))
		plain := withoutDecorators(src)
		_, want := FileOptions.Parse("x.star", plain, 0)
		want = atTokenStart([]byte(plain), want)
		if got == nil || want == nil || got.Error() != want.Error() {
			t.Errorf("ParseFile(%q) = %v, want %v", src, got, want)
		}
	}
}

// withoutDecorators blanks the decorator lines of src (simple cases only).
func withoutDecorators(src string) string {
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(strings.TrimSpace(lines[i]), "@") {
			for ; !strings.HasPrefix(strings.TrimSpace(lines[i]), "def "); i++ {
				lines[i] = ""
			}
		}
	}
	return strings.Join(lines, "\n")
}

func TestParseFileLeavesSourceAlone(t *testing.T) {
	src := []byte("@a\ndef f(): pass\n")
	orig := bytes.Clone(src)
	if _, err := ParseFile("x.star", src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, orig) {
		t.Errorf("ParseFile changed its input to %q", src)
	}
}

func TestParseFileLineEndingsAndRunes(t *testing.T) {
	for _, src := range []string{
		"s = 'héllo wörld'\n@a\ndef f(): pass\n",
		"x = 1\r\n@a\r\ndef f():\r\n\tpass\r\n",
		"x = 1\r@a\rdef f(): pass\r",
		"if True:\n\t@a\n\tdef f(): pass\n",
		"x = '''\n@in_string\n'''\n@a\ndef f(): pass\n",
	} {
		f, err := ParseFile("x.star", []byte(src))
		if err != nil {
			t.Errorf("ParseFile(%q): %v", src, err)
			continue
		}
		if n := countAssigns(f.Stmts); n == 0 {
			t.Errorf("ParseFile(%q): no decorator applied", src)
		}
	}
}

func countAssigns(stmts []syntax.Stmt) int {
	n := 0
	for _, s := range stmts {
		switch s := s.(type) {
		case *syntax.AssignStmt:
			n++
		case *syntax.IfStmt:
			n += countAssigns(s.True)
		}
	}
	return n
}

func TestCompileRuntimePositions(t *testing.T) {
	src := `
def keep(fn):
    return fn

@keep
def f():
    return 1 // 0

def g():
    @keep
    @len
    def h():
        pass

def run(fn):
    fn()
`
	for _, test := range []struct{ call, want string }{
		{"f()", "x.star:7:14"},    // inside the decorated body
		{"g()", "x.star:11:5"},    // at the '@' of the failing decorator
		{"run(f)", "x.star:7:14"}, // wherever it is called from
	} {
		err := execSrc(t, src+test.call+"\n")
		var eerr *starlark.EvalError
		if !errors.As(err, &eerr) {
			t.Fatalf("%s: got %v, want an evaluation error", test.call, err)
		}
		if pos := innermost(eerr.CallStack, "x.star").String(); pos != test.want {
			t.Errorf("%s: error at %s, want %s\n%s", test.call, pos, test.want, eerr.Backtrace())
		}
	}
}

func execSrc(t *testing.T, src string) error {
	t.Helper()
	prog, err := Compile("x.star", []byte(src), func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	_, err = prog.Init(new(starlark.Thread), nil)
	return err
}

func TestCompileReportsResolveErrors(t *testing.T) {
	_, err := Compile("x.star", []byte("@nope\ndef f(): pass\n"), func(string) bool { return false })
	if err == nil || err.Error() != "x.star:1:2: undefined: nope" {
		t.Errorf("got %v, want x.star:1:2: undefined: nope", err)
	}
}

func TestOffset(t *testing.T) {
	src := []byte("aé\r\nb\rc\n\xffd")
	for _, test := range []struct {
		line, col int32
		want      int
	}{{1, 1, 0}, {1, 2, 1}, {1, 3, 3}, {2, 1, 5}, {3, 1, 7}, {4, 2, 10}, {4, 9, -1}, {9, 1, -1}} {
		if got := offset(src, syntax.MakePosition(nil, test.line, test.col)); got != test.want {
			t.Errorf("offset(%d:%d) = %d, want %d", test.line, test.col, got, test.want)
		}
	}
}

func BenchmarkParseFile(b *testing.B) {
	var src bytes.Buffer
	for i := range 50 {
		src.WriteString("@task(retries = 2,\n  timeout = \"1m\")\ndef t" + strings.Repeat("x", i) + "(a, b):\n    return a + b\n\n")
	}
	for b.Loop() {
		if _, err := ParseFile("x.star", src.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecoratorsOffsets: Decorators gives the byte offset of each
// decorator's '@' (after multi-byte runes too), and no other '@'.
func TestDecoratorsOffsets(t *testing.T) {
	src := "s = \"\"\"\n@no\n\"\"\"  # @no\n\u00e9 = 1\n@a\n  # x\n@b(\"@\")\ndef f():\n    @c\n    def g(): pass\n"
	_, offs, err := Decorators("x.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, d := range []string{"@a\n", "@b(", "@c\n"} {
		want = append(want, strings.Index(src, d))
	}
	if len(offs) != len(want) {
		t.Fatalf("Decorators = %v, want %v", offs, want)
	}
	for i := range want {
		if offs[i] != want[i] || src[offs[i]] != '@' {
			t.Errorf("decorator %d at byte %d, want %d", i, offs[i], want[i])
		}
	}
	if _, _, err := Decorators("x.star", []byte("@a\nx = 1\n")); err == nil || !strings.Contains(err.Error(), notFollowedMsg) {
		t.Errorf("a decorator before an assignment: error %v, want %q", err, notFollowedMsg)
	}
}
