// Package starfmt formats wfsh flow files with buildifier's parser and
// printer (bazelbuild/buildtools), keeping what the wfsh dialect has and
// buildifier's grammar lacks: Python-style decorators and while loops.
//
// buildtools cannot read '@' or `while`, so [Parse] first parses the file
// as wfsh does (package builtins: its decorator pre-pass decides which
// '@'s are decorators), then masks each decorator's '@' with a unary
// minus and each `while` with an `if`, byte for byte, so that buildtools
// reads an ordinary statement at the same offset. [File.Format] prints
// the tree with buildifier, parses its output again to find where those
// statements went, puts '@' and `while` back and joins each decorator to
// the def it decorates (buildifier separates a def from the statement
// before it with a blank line).
package starfmt

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/bazelbuild/buildtools/build"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/builtins"
)

// whileMask replaces the keyword `while`: an `if` of the same length, so
// that every byte after it keeps its offset.
const whileMask = "if   "

// A File is a flow file read by buildtools, with the statements that
// stand for its decorators and while loops marked.
type File struct {
	Syntax *build.File
	decos  map[build.Expr]bool // decorator statements: they start with a unary minus
	whiles map[build.Expr]bool // while loops: *build.IfStmt
	bytes  map[build.Expr]bool // bytes literals: *build.StringExpr
}

// Parse reads a flow file. A file wfsh itself cannot parse is an error
// at its file:line:col, the same as `wfsh check` reports.
func Parse(filename string, src []byte) (*File, error) {
	sf, decos, err := builtins.Decorators(filename, src)
	if err != nil {
		return nil, err
	}
	if at := bytes.IndexByte(src, 0); at >= 0 {
		return nil, nulError(filename, src, at)
	}
	whiles, lits := offsets(src, sf)
	var tabs []int
	if bytes.IndexByte(src, '\t') >= 0 {
		tabs, _ = indentTabs(src, sf, decos) // mixed: buildifier's parser reports it
	}
	masked := src
	if len(decos)+len(whiles)+len(lits)+len(tabs) > 0 {
		masked = bytes.Clone(src)
	}
	for _, at := range tabs {
		masked[at] = ' '
	}
	for _, at := range decos {
		masked[at] = '-'
	}
	for _, at := range whiles {
		copy(masked[at:], whileMask)
	}
	for i, at := range lits {
		masked[at] = ' ' // b"..." -> ` "..."`, rb"..." -> ` r"..."`
		if src[at] == 'r' {
			masked[at+1] = 'r'
		}
		lits[i] = at + 1 // where buildifier's string starts
	}
	bf, err := build.ParseDefault(filename, masked)
	if err != nil {
		return nil, fmt.Errorf("%w (wfsh runs this file, but buildifier's parser, which wfsh fmt and lint use, does not accept it)", err)
	}
	f := &File{Syntax: bf, decos: map[build.Expr]bool{}, whiles: map[build.Expr]bool{}, bytes: map[build.Expr]bool{}}
	if err := f.mark(decos, whiles, lits); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return f, nil
}

// nulError refuses a NUL byte: wfsh's parser reads it as the end of the
// file and ignores what follows (in a comment it parses), buildifier's
// reads on, so the two would not format the same file.
func nulError(filename string, src []byte, at int) error {
	lines := starlarkLines(src)
	line := sort.SearchInts(lines, at+1)
	col := utf8.RuneCount(src[lines[line-1]:at]) + 1
	return syntax.Error{Pos: syntax.MakePosition(&filename, int32(line), int32(col)),
		Msg: "NUL byte: wfsh reads it as the end of the file and ignores the rest; remove it"}
}

// IsDecorator reports whether x is a statement that stands for a decorator
// (one that starts with a unary minus written over its '@').
func (f *File) IsDecorator(x build.Expr) bool { return f.decos[x] }

// Decorator returns what a decorator statement applies (`task(retries=2)`
// for `@task(retries=2)`; for a decorator that is an expression, `@a or
// b`, its first operand), or false for any other statement.
func (f *File) Decorator(stmt build.Expr) (build.Expr, bool) {
	if !f.decos[stmt] {
		return nil, false
	}
	return leftMinus(stmt).X, true
}

// IsWhile reports whether x is an if statement that stands for a while
// loop.
func (f *File) IsWhile(x build.Expr) bool { return f.whiles[x] }

// mark finds the statements that start at the masked offsets.
func (f *File) mark(decos, whiles, lits []int) error {
	isDeco := setOf(decos)
	isWhile := setOf(whiles)
	if len(lits) > 0 {
		isBytes := setOf(lits)
		build.Walk(f.Syntax, func(x build.Expr, _ []build.Expr) {
			if s, ok := x.(*build.StringExpr); ok && isBytes[s.Start.Byte] {
				f.bytes[s] = true
			}
		})
	}
	eachBlock(f.Syntax.Stmt, func(stmts []build.Expr) {
		for _, s := range stmts {
			if m := leftMinus(s); m != nil && isDeco[m.OpStart.Byte] {
				f.decos[s] = true
			}
			switch s := s.(type) {
			case *build.IfStmt:
				if isWhile[s.If.Byte] {
					f.whiles[s] = true
				}
			}
		}
	})
	if len(f.decos) != len(decos) || len(f.whiles) != len(whiles) || len(f.bytes) != len(lits) {
		return fmt.Errorf("internal error: %d of %d decorators, %d of %d while loops and %d of %d bytes literals found in the formatter's tree",
			len(f.decos), len(decos), len(f.whiles), len(whiles), len(f.bytes), len(lits))
	}
	return nil
}

func setOf(offs []int) map[int]bool {
	m := make(map[int]bool, len(offs))
	for _, o := range offs {
		m[o] = true
	}
	return m
}

// eachBlock calls visit for every statement list of the tree, outer
// blocks first, in source order.
func eachBlock(stmts []build.Expr, visit func([]build.Expr)) {
	visit(stmts)
	for _, s := range stmts {
		switch s := s.(type) {
		case *build.DefStmt:
			eachBlock(s.Body, visit)
		case *build.ForStmt:
			eachBlock(s.Body, visit)
		case *build.IfStmt:
			eachBlock(s.True, visit)
			eachBlock(s.False, visit)
		}
	}
}

// offsets returns the byte offsets of the `while` keywords and of the
// bytes literals (their b or rb) of the file wfsh parsed.
func offsets(src []byte, f *syntax.File) (whiles, lits []int) {
	var lines []int
	at := func(p syntax.Position) int {
		if lines == nil {
			lines = starlarkLines(src)
		}
		return runeOffset(src, lines[p.Line-1], int(p.Col))
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.WhileStmt:
			whiles = append(whiles, at(n.While))
		case *syntax.Literal:
			if n.Token == syntax.BYTES {
				lits = append(lits, at(n.TokenPos))
			}
		}
		return true
	})
	return whiles, lits
}

// starlarkLines returns the byte offset at which each line of src starts,
// as wfsh's parser counts lines: after "\n", "\r\n" or a lone "\r".
func starlarkLines(src []byte) []int {
	starts := []int{0}
	for i := 0; i < len(src); i++ {
		switch {
		case src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n':
			i++
			starts = append(starts, i+1)
		case src[i] == '\n' || src[i] == '\r':
			starts = append(starts, i+1)
		}
	}
	return starts
}

// lineStarts returns the byte offset at which each line of src starts, as
// buildifier counts lines (after each "\n").
func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// runeOffset is the byte offset of column col (counted in runes, from 1)
// of the line that starts at byte start.
func runeOffset(src []byte, start, col int) int {
	i := start
	for ; col > 1 && i < len(src); col-- {
		_, size := utf8.DecodeRune(src[i:])
		i += size
	}
	return i
}

// Format formats src as `wfsh fmt` does.
func Format(filename string, src []byte) ([]byte, error) {
	f, err := Parse(filename, src)
	if err != nil {
		return nil, err
	}
	return f.Format()
}

// Format applies buildifier's rewrites and prints the file: buildifier's
// layout, with decorators, while loops and bytes literals put back, and
// keyword arguments and parameter defaults written `name=value` as in
// Python (PEP 8) rather than Bazel's `name = value`.
func (f *File) Format() ([]byte, error) {
	fixFloats(f.Syntax)
	build.Rewrite(f.Syntax)
	keepNonASCII(f.Syntax)
	order, lits := f.masks()
	out := build.FormatWithoutRewriting(f.Syntax)
	back, err := build.ParseDefault(f.Syntax.Path, out)
	if err != nil {
		return nil, fmt.Errorf("internal error: the formatter's output does not parse: %w", err)
	}
	u := &unmask{out: out, lines: lineStarts(out), drop: map[int]bool{}}
	if err := u.statements(back, order); err != nil {
		return nil, err
	}
	build.Walk(back, func(x build.Expr, _ []build.Expr) { u.keywords(x) })
	if len(lits) > 0 {
		if err := u.bytesLits(back, lits); err != nil {
			return nil, err
		}
	}
	return u.bytes(), nil
}

// masks says, in the order a walk of the printed tree meets them, which
// statement-level unary minuses and ifs are masks (order), and which
// strings are bytes literals (lits; nil when there are none).
func (f *File) masks() (order, lits []bool) {
	eachMasked(f.Syntax.Stmt, func(x build.Expr) { order = append(order, f.decos[x] || f.whiles[x]) })
	if len(f.bytes) > 0 {
		build.Walk(f.Syntax, func(x build.Expr, _ []build.Expr) {
			if _, ok := x.(*build.StringExpr); ok {
				lits = append(lits, f.bytes[x])
			}
		})
	}
	return order, lits
}

// fixFloats writes two kinds of float literal that wfsh reads but that
// buildifier's float rewrites would make unreadable: one with leading
// zeros (00.5, 01e3), which the rewrite of old-style octal ints (0755 ->
// 0o755) makes 0o0.5, and one with a zero exponent (1.5e0, .0e+00), whose
// exponent buildifier strips to nothing (1.5e). The first loses its
// leading zeros, the second its exponent: the same values.
func fixFloats(f *build.File) {
	build.Walk(f, func(x build.Expr, _ []build.Expr) {
		l, ok := x.(*build.LiteralExpr)
		if !ok || !isDecimalFloat(l.Token) {
			return
		}
		t := l.Token
		if len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
			t = strings.TrimLeft(t, "0")
			if t == "" || t[0] == '.' || t[0] == 'e' || t[0] == 'E' {
				t = "0" + t
			}
		}
		if i := strings.IndexAny(t, "eE"); i >= 0 && strings.ContainsRune(t, '.') && strings.Trim(t[i+1:], "+0") == "" {
			t = t[:i]
		}
		l.Token = t
	})
}

// keepNonASCII rewrites single-quoted strings that hold non-ASCII text in
// double quotes, keeping their escapes: buildifier prints such a string
// with each non-ASCII byte as an octal escape ('é' -> "\303\251"), which
// wfsh refuses in a string.
func keepNonASCII(f *build.File) {
	build.Walk(f, func(x build.Expr, _ []build.Expr) {
		s, ok := x.(*build.StringExpr)
		if !ok || !strings.HasPrefix(s.Token, "'") || isASCII(s.Value) {
			return
		}
		q := `"`
		if s.TripleQuote {
			q = `"""`
		}
		body := s.Token[len(q) : len(s.Token)-len(q)]
		var b strings.Builder
		for i := 0; i < len(body); i++ {
			switch c := body[i]; {
			case c == '\\' && i+1 < len(body) && body[i+1] == '\'':
				b.WriteByte('\'')
				i++
			case c == '\\' && i+1 < len(body):
				b.WriteString(body[i : i+2])
				i++
			case c == '"':
				b.WriteString(`\"`)
			default:
				b.WriteByte(c)
			}
		}
		tok := q + b.String() + q
		if v, triple, err := build.Unquote(tok); err == nil && v == s.Value && triple == s.TripleQuote {
			s.Token = tok
		}
	})
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isDecimalFloat reports whether a number token is a decimal float.
func isDecimalFloat(t string) bool {
	if len(t) > 1 && t[0] == '0' && strings.ContainsAny(t[1:2], "xXoObB") {
		return false
	}
	return strings.ContainsAny(t, ".eE")
}

// eachMasked calls visit for each statement that could be a mask, in the
// order eachBlock visits them.
func eachMasked(stmts []build.Expr, visit func(build.Expr)) {
	eachBlock(stmts, func(stmts []build.Expr) {
		for _, s := range stmts {
			if isMaskable(s) {
				visit(s)
			}
		}
	})
}

func isMaskable(s build.Expr) bool {
	if _, ok := s.(*build.IfStmt); ok {
		return true
	}
	return leftMinus(s) != nil
}

// leftMinus returns the unary minus that starts expression x, if any: a
// decorator's masked '@' binds tighter than any operator after it, so
// `@a or b` reads as `(-a) or b`.
func leftMinus(x build.Expr) *build.UnaryExpr {
	switch x := x.(type) {
	case *build.UnaryExpr:
		if x.Op == "-" {
			return x
		}
	case *build.BinaryExpr:
		return leftMinus(x.X)
	case *build.ConditionalExpr:
		return leftMinus(x.Then)
	}
	return nil
}
