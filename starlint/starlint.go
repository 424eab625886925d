// Package starlint finds likely mistakes in wfsh flow files: the warnings
// of buildifier (bazelbuild/buildtools) that apply to any Starlark file,
// and wfsh's own checks of tasks, flows and schedules. It reads files with
// package starfmt, so decorators are understood, and fixes what has a safe
// fix, printing the result as `wfsh fmt` does.
package starlint

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/bazelbuild/buildtools/build"
	"github.com/bazelbuild/buildtools/warn"

	"github.com/wfsh/wfsh/starfmt"
)

// Buildifier are the buildifier warnings wfsh runs: those about Starlark
// itself, not about Bazel's rules, BUILD files or .bzl docstrings. Left
// out on purpose: print (print in a task is its log), integer-division
// (in wfsh, as in Python 3, `/` of two ints is a float: its fix would
// change results), unsorted-dict-items (dict order is meaningful).
var Buildifier = []string{
	"confusing-name",
	"dict-concatenation",
	"dict-method-named-arg",
	"list-append",
	"load",
	"name-conventions",
	"no-effect",
	"return-value",
	"string-iteration",
	"uninitialized",
	"unreachable",
	"unused-variable",
}

// A Finding is one problem, at the position of what it is about.
type Finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Category string `json:"category"`
	Message  string `json:"message"`
	// Fix says what `wfsh lint --fix` changes for it; empty: no fix.
	Fix string `json:"fix,omitempty"`
	// URL documents a buildifier warning.
	URL string `json:"url,omitempty"`
}

// String is file:line:col: message (category).
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s (%s)", f.File, f.Line, f.Col, f.Message, f.Category)
}

// buildifierFix is what --fix does for a buildifier warning that has one.
const buildifierFix = "buildifier's fix"

// Lint returns the findings of a flow file, sorted by position.
func Lint(filename string, src []byte) ([]Finding, error) {
	f, err := starfmt.Parse(filename, src)
	if err != nil {
		return nil, err
	}
	return lint(f, src), nil
}

// Fix applies every fix there is and returns the file formatted as `wfsh
// fmt` formats it, with the findings that remain.
func Fix(filename string, src []byte) ([]byte, []Finding, error) {
	f, err := starfmt.Parse(filename, src)
	if err != nil {
		return nil, nil, err
	}
	for _, fd := range newModule(f, src).checks() {
		if fd.apply != nil {
			fd.apply()
		}
	}
	warn.FixWarnings(f.Syntax, Buildifier, false, nil)
	out, err := f.Format()
	if err != nil {
		return nil, nil, err
	}
	left, err := Lint(filename, out)
	if err != nil {
		return nil, nil, fmt.Errorf("internal error: the fixed file does not parse: %w", err)
	}
	return out, left, nil
}

func lint(f *starfmt.File, src []byte) []Finding {
	var out []Finding
	m := newModule(f, src)
	for _, w := range warn.FileWarnings(f.Syntax, Buildifier, nil, warn.ModeWarn, nil) {
		if w.Category == "no-effect" && startsDecorator(f, w.Start) {
			continue // a decorator, which buildifier reads as `-expr`
		}
		if w.Category == "unused-variable" && m.params[w.Start.Byte] {
			continue // a hook's or a task's parameter may be there for its caller
		}
		if w.Category == "return-value" && endsInLoop(f, w.Start) {
			continue // buildifier reads `while True:` as `if True:`, which can end
		}
		if m.disabled(w.Start.Line, w.Start.Line, w.Category) {
			continue // `# wfsh: disable=` works for buildifier's warnings too
		}
		fd := Finding{File: f.Syntax.Path, Line: w.Start.Line, Col: w.Start.LineRune, Category: w.Category, Message: house(w.Message), URL: w.URL}
		if w.AutoFixable {
			fd.Fix = buildifierFix
		}
		out = append(out, fd)
	}
	for _, fd := range m.checks() {
		out = append(out, fd.Finding)
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), strings.Compare(a.Category, b.Category))
	})
	return out
}

// house writes a buildifier message as wfsh writes messages: its first
// sentence (the rest speaks of Bazel), lowercase, with no final period.
func house(msg string) string {
	if i := strings.IndexAny(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, ". "); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.TrimSuffix(msg, ".")
	r := []rune(msg)
	if len(r) > 1 && unicode.IsUpper(r[0]) && unicode.IsLower(r[1]) {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

// endsInLoop reports whether the def at pos has a `while True:` loop
// without a break among its statements: no path goes past it.
func endsInLoop(f *starfmt.File, pos build.Position) bool {
	found := false
	build.WalkStatements(f.Syntax, func(x build.Expr, _ []build.Expr) error {
		def, ok := x.(*build.DefStmt)
		if !ok || def.StartPos.Byte != pos.Byte {
			return nil
		}
		for _, s := range def.Body {
			if w, ok := s.(*build.IfStmt); ok && f.IsWhile(w) && isTrue(w.Cond) && !breaks(f, w.True) {
				found = true
			}
		}
		return nil
	})
	return found
}

func isTrue(x build.Expr) bool {
	id, ok := x.(*build.Ident)
	return ok && id.Name == "True"
}

// breaks reports whether a loop body has a break of its own (not one of
// a loop inside it).
func breaks(f *starfmt.File, body []build.Expr) bool {
	for _, s := range body {
		switch s := s.(type) {
		case *build.BranchStmt:
			if s.Token == "break" {
				return true
			}
		case *build.IfStmt:
			if !f.IsWhile(s) && (breaks(f, s.True) || breaks(f, s.False)) {
				return true
			}
		}
	}
	return false
}

// startsDecorator reports whether a decorator statement starts at pos.
func startsDecorator(f *starfmt.File, pos build.Position) bool {
	found := false
	build.WalkStatements(f.Syntax, func(x build.Expr, _ []build.Expr) error {
		if start, _ := x.Span(); start.Byte == pos.Byte && f.IsDecorator(x) {
			found = true
		}
		return nil
	})
	return found
}
