package runtime

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a flow source file. Line and Col count from 1; a zero
// Line means the position is unknown.
type Pos struct {
	File      string
	Line, Col int32
}

// IsValid reports whether the position is known.
func (p Pos) IsValid() bool { return p.Line > 0 }

// String formats p as file:line:col, as go/token does.
func (p Pos) String() string {
	s := p.File
	if s == "" {
		s = "-"
	}
	if p.IsValid() {
		s += fmt.Sprintf(":%d", p.Line)
		if p.Col > 0 {
			s += fmt.Sprintf(":%d", p.Col)
		}
	}
	return s
}

// Before orders positions by file, line and column.
func (p Pos) Before(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// PosError is an error found at a position in a flow file.
type PosError struct {
	Pos Pos
	Msg string
}

func (e *PosError) Error() string {
	if !e.Pos.IsValid() && e.Pos.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// ErrorList collects every problem found in a flow, as go/scanner does.
type ErrorList []*PosError

// Add appends an error at pos.
func (l *ErrorList) Add(pos Pos, format string, args ...any) {
	*l = append(*l, &PosError{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Sort orders the list by position.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Pos.Before(l[j].Pos) })
}

// Err returns nil for an empty list and the list itself otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}
