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
			lines = lineStarts(src)
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

// lineStarts returns the byte offset at which each line of src starts.
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
	trimFloatZeros(f.Syntax)
	build.Rewrite(f.Syntax)
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

// trimFloatZeros writes a float literal with leading zeros (00.5, 01e3,
// which wfsh reads) without them: buildifier's rewrite of old-style octal
// ints (0755 -> 0o755) would make 0o0.5 of it, which does not parse.
func trimFloatZeros(f *build.File) {
	build.Walk(f, func(x build.Expr, _ []build.Expr) {
		l, ok := x.(*build.LiteralExpr)
		if !ok || len(l.Token) < 2 || l.Token[0] != '0' || l.Token[1] < '0' || l.Token[1] > '9' || !strings.ContainsAny(l.Token, ".eE") {
			return
		}
		t := strings.TrimLeft(l.Token, "0")
		if t == "" || t[0] == '.' || t[0] == 'e' || t[0] == 'E' {
			t = "0" + t
		}
		l.Token = t
	})
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
