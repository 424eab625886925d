// Package builtins implements the wfsh Starlark dialect: the file options,
// Python-style decorators (rewritten into plain Starlark before compilation)
// and the extra builtins that make flow code feel like Python.
package builtins

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// FileOptions are the Starlark options of the wfsh dialect.
var FileOptions = &syntax.FileOptions{
	While:           true,
	Set:             true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

const notFollowedMsg = "decorator must be followed by a def statement"

// Compile parses src with [ParseFile] and compiles it into a program.
func Compile(filename string, src []byte, isPredeclared func(string) bool) (*starlark.Program, error) {
	f, err := ParseFile(filename, src)
	if err != nil {
		return nil, err
	}
	return starlark.FileProgram(f, isPredeclared)
}

// ParseFile parses a Starlark file with [FileOptions], accepting Python
// decorators before def statements, at any nesting level.
//
// Starlark's scanner rejects '@'. ParseFile writes a unary minus over each
// '@' that starts a line (same column, same indentation), so that the
// decorator parses as an expression statement just before its def. A
// rewrite then removes those statements and adds `name = d1(d2(name))`
// after the def, each call placed at its decorator's '@', so that errors
// keep their original line and column.
//
// A decorator that is not followed by a def is a syntax error at its '@';
// any other syntax error is the parser's own, at the same position as
// without decorators. A decorator expression is evaluated after the def
// statement rather than before it, which only differs from Python when it
// refers to the name being defined.
func ParseFile(filename string, src []byte) (*syntax.File, error) {
	f, _, err := parse(filename, src)
	return f, err
}

// Decorators parses src as [ParseFile] does and returns the byte offset
// of each decorator's '@' in src, in source order: what a tool that
// formats or lints flow files with another Starlark parser must map.
func Decorators(filename string, src []byte) (*syntax.File, []int, error) {
	f, ats, err := parse(filename, src)
	if err != nil {
		return nil, nil, err
	}
	want := make(map[lineCol]bool, len(ats))
	for _, a := range ats {
		want[keyOf(a.Pos)] = true
	}
	offs := make([]int, 0, len(ats))
	for i, pos := range runePositions(src) {
		if len(offs) == len(ats) {
			break
		}
		if want[keyOf(pos)] {
			offs = append(offs, i)
		}
	}
	return f, offs, nil
}

// parse is ParseFile, also returning the replaced '@'s: the decorators.
func parse(filename string, src []byte) (*syntax.File, []syntax.Error, error) {
	if err := checkUTF8(filename, src); err != nil {
		return nil, nil, err
	}
	if bytes.IndexByte(src, '@') >= 0 {
		if f, ats, ok := parseGuessing(filename, src); ok {
			return f, ats, nil
		}
	}
	f, ats, err := parseStepwise(filename, src)
	if err != nil {
		return nil, nil, atTokenStart(src, err)
	}
	return f, ats, nil
}

// checkUTF8 refuses source that is not UTF-8, at its first bad byte:
// Starlark would read each bad byte as U+FFFD, silently changing a string
// literal.
func checkUTF8(filename string, src []byte) error {
	if utf8.Valid(src) {
		return nil
	}
	line, start := 1, 0
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size == 1 {
			col := utf8.RuneCount(src[start:i]) + 1
			return syntax.Error{Pos: syntax.MakePosition(&filename, int32(line), int32(col)),
				Msg: fmt.Sprintf("invalid UTF-8 (byte 0x%02x): flow files are UTF-8; write other bytes in a string with \\x escapes", src[i])}
		}
		if r == '\n' {
			line, start = line+1, i+1
		}
		i += size
	}
	return nil
}

// parseGuessing replaces every '@' that starts a line and parses once. It
// fails unless each of them turns out to be a decorator: the others may be
// inside strings, or errors that parseStepwise reports.
func parseGuessing(filename string, src []byte) (*syntax.File, []syntax.Error, bool) {
	guess := bytes.Clone(src)
	var ats []syntax.Error
	for i, pos := range runePositions(src) {
		if src[i] == '@' && startsLine(src, i) {
			guess[i] = '-'
			ats = append(ats, syntax.Error{Pos: pos})
		}
	}
	f, err := FileOptions.Parse(filename, guess, 0)
	if err != nil {
		return nil, nil, false
	}
	f, err = rewrite(f, ats)
	return f, ats, err == nil
}

// parseStepwise lets the parser find decorators: each time it rejects an
// '@' that starts a line, it replaces that '@' and parses again.
func parseStepwise(filename string, src []byte) (*syntax.File, []syntax.Error, error) {
	var ats []syntax.Error
	for budget := bytes.Count(src, []byte("@")); ; budget-- {
		f, err := FileOptions.Parse(filename, src, 0)
		if err == nil {
			f, err = rewrite(f, ats)
			return f, ats, err
		}
		var serr syntax.Error
		if !errors.As(err, &serr) || budget == 0 {
			return nil, nil, err
		}
		at := offset(src, serr.Pos)
		if at < 0 || src[at] != '@' || !startsLine(src, at) {
			return nil, nil, err
		}
		if ats == nil {
			src = bytes.Clone(src)
		}
		src[at] = '-'
		ats = append(ats, serr)
	}
}

// startsLine reports whether only spaces and tabs precede src[i] on its line.
func startsLine(src []byte, i int) bool {
	for i > 0 && (src[i-1] == ' ' || src[i-1] == '\t') {
		i--
	}
	return i == 0 || src[i-1] == '\n' || src[i-1] == '\r'
}

// offset returns the byte offset of pos in src, or -1.
func offset(src []byte, pos syntax.Position) int {
	for i, p := range runePositions(src) {
		if p.Line == pos.Line && p.Col == pos.Col {
			return i
		}
	}
	return -1
}

// runePositions yields the byte offset and position of each rune in src,
// counting lines and columns (in runes) as the Starlark scanner does.
func runePositions(src []byte) iter.Seq2[int, syntax.Position] {
	return func(yield func(int, syntax.Position) bool) {
		line, col := int32(1), int32(1)
		for i := 0; i < len(src); {
			if !yield(i, syntax.MakePosition(nil, line, col)) {
				return
			}
			r, size := utf8.DecodeRune(src[i:])
			i += size
			if r == '\r' && i < len(src) && src[i] == '\n' {
				i++
			}
			col++
			if r == '\n' || r == '\r' {
				line, col = line+1, 1
			}
		}
	}
}

// A lineCol identifies a position regardless of its file name pointer.
type lineCol struct{ line, col int32 }

func keyOf(pos syntax.Position) lineCol { return lineCol{pos.Line, pos.Col} }

type decorator struct {
	at   syntax.Position // the '@'
	expr syntax.Expr
}

// A rewriter turns decorator statements into assignments after their def.
type rewriter struct {
	pending map[lineCol]bool // replaced '@'s not yet matched to a decorator
	errs    []syntax.Error
}

func rewrite(f *syntax.File, ats []syntax.Error) (*syntax.File, error) {
	if len(ats) == 0 {
		return f, nil
	}
	rw := &rewriter{pending: make(map[lineCol]bool)}
	for _, a := range ats {
		rw.pending[keyOf(a.Pos)] = true
	}
	f.Stmts = rw.block(f.Stmts)
	for _, a := range ats {
		if rw.pending[keyOf(a.Pos)] {
			rw.errs = append(rw.errs, a) // not a decorator: the parser's error stands
		}
	}
	if err := rw.firstErr(); err != nil {
		return nil, err
	}
	return f, nil
}

// block rewrites a statement list and the blocks nested in it.
func (rw *rewriter) block(stmts []syntax.Stmt) []syntax.Stmt {
	var out []syntax.Stmt
	var decos []decorator
	for _, s := range stmts {
		rw.nested(s)
		if d, ok := rw.decorator(s); ok {
			decos = append(decos, d)
			continue
		}
		out = append(out, s)
		if len(decos) == 0 {
			continue
		}
		if def, ok := s.(*syntax.DefStmt); ok {
			out = append(out, apply(def, decos))
		} else {
			rw.notFollowed(decos[0])
		}
		decos = nil
	}
	if len(decos) > 0 {
		rw.notFollowed(decos[0])
	}
	return out
}

func (rw *rewriter) nested(s syntax.Stmt) {
	switch s := s.(type) {
	case *syntax.DefStmt:
		s.Body = rw.block(s.Body)
	case *syntax.ForStmt:
		s.Body = rw.block(s.Body)
	case *syntax.WhileStmt:
		s.Body = rw.block(s.Body)
	case *syntax.IfStmt:
		s.True = rw.block(s.True)
		s.False = rw.block(s.False)
	}
}

func (rw *rewriter) notFollowed(d decorator) {
	rw.errs = append(rw.errs, syntax.Error{Pos: d.at, Msg: notFollowedMsg})
}

// decorator reports whether s is a decorator: an expression statement
// that starts with a minus written over a line-leading '@'.
func (rw *rewriter) decorator(s syntax.Stmt) (decorator, bool) {
	es, ok := s.(*syntax.ExprStmt)
	if !ok {
		return decorator{}, false
	}
	at := syntax.Start(es.X)
	if !rw.pending[keyOf(at)] {
		return decorator{}, false
	}
	x, ok := dropMinus(es.X, at)
	if !ok {
		return decorator{}, false
	}
	delete(rw.pending, keyOf(at))
	return decorator{at: at, expr: x}, true
}

// dropMinus removes the unary minus at at, the leftmost operator of e,
// returning the expression the decorator had before its '@' was replaced.
// Unary minus binds tighter than any binary operator, so removing it gives
// the tree the parser would have built for the decorator alone.
func dropMinus(e syntax.Expr, at syntax.Position) (syntax.Expr, bool) {
	ok := false
	switch x := e.(type) {
	case *syntax.UnaryExpr:
		if x.Op == syntax.MINUS && keyOf(x.OpPos) == keyOf(at) {
			return x.X, true
		}
	case *syntax.BinaryExpr:
		x.X, ok = dropMinus(x.X, at)
	case *syntax.CondExpr:
		x.True, ok = dropMinus(x.True, at)
	}
	return e, ok
}

// apply returns `name = d1(d2(name))` for a def and its decorators, in
// source order; each call is placed at its decorator's '@'.
func apply(def *syntax.DefStmt, decos []decorator) syntax.Stmt {
	x := syntax.Expr(nameOf(def))
	for i := len(decos) - 1; i >= 0; i-- {
		d := decos[i]
		x = &syntax.CallExpr{Fn: d.expr, Lparen: d.at, Args: []syntax.Expr{x}, Rparen: syntax.End(d.expr)}
	}
	return &syntax.AssignStmt{OpPos: decos[0].at, Op: syntax.EQ, LHS: nameOf(def), RHS: x}
}

func nameOf(def *syntax.DefStmt) *syntax.Ident {
	return &syntax.Ident{NamePos: def.Name.NamePos, Name: def.Name.Name}
}

// firstErr returns the error that comes first in the file, if any.
func (rw *rewriter) firstErr() error {
	if len(rw.errs) == 0 {
		return nil
	}
	first := rw.errs[0]
	for _, e := range rw.errs[1:] {
		if e.Pos.Line < first.Pos.Line || e.Pos.Line == first.Pos.Line && e.Pos.Col < first.Pos.Col {
			first = e
		}
	}
	return first
}
