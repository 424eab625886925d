package starfmt

import (
	"sort"

	"go.starlark.net/syntax"
)

// indentTabs returns the offsets of the tabs in the leading white space of
// src's lines (outside string literals), which buildifier's parser cannot
// read, when replacing each by one space keeps every block: when the
// lines that start a statement, an else or a decorator are indented with
// tabs alone or spaces alone, not both in one file (Starlark counts a tab
// as 8 columns, so tab-only indentation scales by the same factor on
// every line). ok is false for a file that mixes them.
func indentTabs(src []byte, f *syntax.File, decos []int) (tabs []int, ok bool) {
	lines := starlarkLines(src)
	structural := map[int]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if _, isStmt := n.(syntax.Stmt); isStmt {
			start, _ := n.Span()
			structural[int(start.Line)] = true
		}
		if s, isIf := n.(*syntax.IfStmt); isIf && s.ElsePos.IsValid() {
			structural[int(s.ElsePos.Line)] = true
		}
		return true
	})
	for _, at := range decos {
		structural[sort.SearchInts(lines, at+1)] = true // the line holding at
	}
	var spaces, tabbed bool
	for line := range structural {
		s, t := leading(src, lines[line-1])
		spaces, tabbed = spaces || s, tabbed || t
	}
	if spaces && tabbed {
		return nil, false
	}
	inString := stringLines(src, f, lines)
	for i, start := range lines {
		if inString[i+1] {
			continue
		}
		for j := start; j < len(src) && (src[j] == ' ' || src[j] == '\t'); j++ {
			if src[j] == '\t' {
				tabs = append(tabs, j)
			}
		}
	}
	return tabs, true
}

// leading reports whether the white space that starts the line at start
// has spaces, and tabs.
func leading(src []byte, start int) (spaces, tabs bool) {
	for j := start; j < len(src) && (src[j] == ' ' || src[j] == '\t'); j++ {
		spaces, tabs = spaces || src[j] == ' ', tabs || src[j] == '\t'
	}
	return spaces, tabs
}

// stringLines returns the lines (from 1) that start inside a string
// literal: the second and later lines of triple-quoted strings.
func stringLines(src []byte, f *syntax.File, lines []int) map[int]bool {
	in := map[int]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if lit, ok := n.(*syntax.Literal); ok && (lit.Token == syntax.STRING || lit.Token == syntax.BYTES) {
			start, end := lit.Span()
			for l := start.Line + 1; l <= end.Line; l++ {
				in[int(l)] = true
			}
		}
		return true
	})
	return in
}
