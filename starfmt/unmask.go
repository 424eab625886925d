package starfmt

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/bazelbuild/buildtools/build"
)

// An unmask collects the edits of buildifier's output: the masks turned
// back into decorators, while loops and bytes literals, the blank lines
// between a decorator and its def dropped, keyword spacing closed up.
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

// statements puts back the decorators and while loops of the printed tree.
func (u *unmask) statements(back *build.File, order []bool) error {
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
		return fmt.Errorf("internal error: the formatter's output has %d candidate statements, want %d", i, len(order))
	}
	return nil
}

// bytesLits puts back the b of the bytes literals among the strings of the
// printed tree.
func (u *unmask) bytesLits(back *build.File, lits []bool) error {
	i := 0
	build.Walk(back, func(x build.Expr, _ []build.Expr) {
		s, ok := x.(*build.StringExpr)
		if !ok {
			return
		}
		if i < len(lits) && lits[i] {
			if u.out[s.Start.Byte] == 'r' {
				u.edits = append(u.edits, edit{at: s.Start.Byte, n: 1, with: "rb"})
			} else {
				u.edits = append(u.edits, edit{at: s.Start.Byte, with: "b"})
			}
		}
		i++
	})
	if i != len(lits) {
		return fmt.Errorf("internal error: the formatter's output has %d strings, want %d", i, len(lits))
	}
	return nil
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
