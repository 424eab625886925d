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
	"cmp"
	"fmt"
	"slices"
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
}

// Parse reads a flow file. A file wfsh itself cannot parse is an error
// at its file:line:col, the same as `wfsh check` reports.
func Parse(filename string, src []byte) (*File, error) {
	sf, decos, err := builtins.Decorators(filename, src)
	if err != nil {
		return nil, err
	}
	whiles := whileOffsets(src, sf)
	masked := src
	if len(decos)+len(whiles) > 0 {
		masked = bytes.Clone(src)
	}
	for _, at := range decos {
		masked[at] = '-'
	}
	for _, at := range whiles {
		copy(masked[at:], whileMask)
	}
	bf, err := build.ParseDefault(filename, masked)
	if err != nil {
		return nil, fmt.Errorf("%w (wfsh runs this file, but buildifier's parser, which wfsh fmt and lint use, does not accept it)", err)
	}
	f := &File{Syntax: bf, decos: map[build.Expr]bool{}, whiles: map[build.Expr]bool{}}
	if err := f.mark(decos, whiles); err != nil {
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

// IsWhile reports whether x is an if statement that stands for a while loop.
func (f *File) IsWhile(x build.Expr) bool { return f.whiles[x] }

// mark finds the statements that start at the masked offsets.
func (f *File) mark(decos, whiles []int) error {
	isDeco := setOf(decos)
	isWhile := setOf(whiles)
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
	if len(f.decos) != len(decos) || len(f.whiles) != len(whiles) {
		return fmt.Errorf("internal error: %d of %d decorators and %d of %d while loops found in the formatter's tree",
			len(f.decos), len(decos), len(f.whiles), len(whiles))
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

// whileOffsets returns the byte offset of each `while` keyword of the
// file wfsh parsed.
func whileOffsets(src []byte, f *syntax.File) []int {
	var pos []syntax.Position
	syntax.Walk(f, func(n syntax.Node) bool {
		if w, ok := n.(*syntax.WhileStmt); ok {
			pos = append(pos, w.While)
		}
		return true
	})
	if len(pos) == 0 {
		return nil
	}
	lines := lineStarts(src)
	offs := make([]int, len(pos))
	for i, p := range pos {
		offs[i] = runeOffset(src, lines[p.Line-1], int(p.Col))
	}
	return offs
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
// layout, with decorators and while loops put back, and keyword
// arguments and parameter defaults written `name=value` as in Python
// (PEP 8) rather than Bazel's `name = value`.
func (f *File) Format() ([]byte, error) {
	var order []bool // for each statement-level '-' and if, in walk order: is it masked?
	eachMasked(f.Syntax.Stmt, func(x build.Expr) { order = append(order, f.decos[x] || f.whiles[x]) })
	build.Rewrite(f.Syntax)
	out := build.FormatWithoutRewriting(f.Syntax)
	back, err := build.ParseDefault(f.Syntax.Path, out)
	if err != nil {
		return nil, fmt.Errorf("internal error: the formatter's output does not parse: %w", err)
	}
	u := unmask{out: out, lines: lineStarts(out), drop: map[int]bool{}}
	i := 0
	eachBlock(back.Stmt, func(stmts []build.Expr) {
		after := false // the previous statement was a decorator
		for j, s := range stmts {
			restored := false
			if isMaskable(s) {
				restored = i < len(order) && order[i]
				if restored {
					u.restore(stmts, j, j > 0 && !after)
				}
				i++
			}
			after = restored
		}
	})
	if i != len(order) {
		return nil, fmt.Errorf("internal error: the formatter's output has %d candidate statements, want %d", i, len(order))
	}
	build.Walk(back, func(x build.Expr, _ []build.Expr) { u.keywords(x) })
	return u.bytes(), nil
}

// keywords closes up the " = " of the keyword arguments of a call and of
// the parameter defaults of a def or lambda printed on one line.
func (u *unmask) keywords(x build.Expr) {
	var list []build.Expr
	switch x := x.(type) {
	case *build.CallExpr:
		list = x.List
	case *build.DefStmt:
		list = x.Params
	case *build.LambdaExpr:
		list = x.Params
	}
	for _, a := range list {
		kw, ok := a.(*build.AssignExpr)
		if !ok || kw.Op != "=" || kw.LineBreak {
			continue
		}
		_, lhsEnd := kw.LHS.Span()
		rhsStart, _ := kw.RHS.Span()
		if string(u.out[lhsEnd.Byte:rhsStart.Byte]) == " = " {
			u.edits = append(u.edits, edit{at: lhsEnd.Byte, n: len(" = "), with: "="})
		}
	}
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

// An unmask collects the edits that turn the printed masks back into
// decorators and while loops.
type unmask struct {
	out   []byte
	lines []int        // the offset at which each line of out starts
	edits []edit       // in any order
	drop  map[int]bool // lines (from 1) to leave out: blank lines after a decorator
}

type edit struct {
	at, n int // replace out[at:at+n]
	with  string
}

// restore puts back the decorator or while loop that stmts[j] stands for.
// The first decorator of a def after another statement gets the blank
// line buildifier gives a def.
func (u *unmask) restore(stmts []build.Expr, j int, first bool) {
	switch s := stmts[j].(type) {
	case *build.IfStmt:
		u.edits = append(u.edits, edit{at: s.If.Byte, n: len("if"), with: "while"})
	default:
		u.edits = append(u.edits, edit{at: leftMinus(s).OpStart.Byte, n: 1, with: "@"})
		if first {
			u.blankBefore(s)
		}
		_, end := s.Span()
		next := len(stmts)
		for k := j + 1; k < len(stmts); k++ {
			if _, ok := stmts[k].(*build.CommentBlock); !ok {
				next = k
				break
			}
		}
		if next == len(stmts) {
			return
		}
		start, _ := stmts[next].Span()
		for line := end.Line + 1; line < start.Line; line++ {
			u.drop[line] = true
		}
	}
}

// blankBefore adds a blank line before x and its comments, unless there
// is one.
func (u *unmask) blankBefore(x build.Expr) {
	start, _ := x.Span()
	if before := x.Comment().Before; len(before) > 0 {
		start = before[0].Start
	}
	if start.Line < 2 {
		return
	}
	prev := u.out[u.lines[start.Line-2]:u.lines[start.Line-1]]
	if len(bytes.TrimSpace(prev)) > 0 {
		u.edits = append(u.edits, edit{at: u.lines[start.Line-1], with: "\n"})
	}
}

// bytes applies the edits, leaving out the dropped lines that are blank.
func (u *unmask) bytes() []byte {
	slices.SortFunc(u.edits, func(a, b edit) int { return cmp.Or(a.at-b.at, a.n-b.n) }) // insertions first
	var b bytes.Buffer
	b.Grow(len(u.out) + 4*len(u.edits))
	e := 0
	for line, start := 1, 0; start < len(u.out); line++ {
		end := bytes.IndexByte(u.out[start:], '\n') + start + 1
		if end == start {
			end = len(u.out)
		}
		if u.drop[line] && len(bytes.TrimSpace(u.out[start:end])) == 0 {
			start = end
			continue
		}
		for ; e < len(u.edits) && u.edits[e].at < end; e++ {
			b.Write(u.out[start:u.edits[e].at])
			b.WriteString(u.edits[e].with)
			start = u.edits[e].at + u.edits[e].n
		}
		b.Write(u.out[start:end])
		start = end
	}
	return b.Bytes()
}
