package repl

import (
	"slices"
	"strings"

	"go.starlark.net/starlark"
)

// keywords are Starlark's, offered with the names.
var keywords = []string{"and", "break", "continue", "def", "elif", "else", "for", "if", "in", "lambda",
	"load", "not", "or", "pass", "return", "while"}

// Completions returns what may complete the word that ends at the end of
// before (the input up to the cursor): the byte offset where that word
// starts, and the candidates that extend it, sorted. After a dot it offers
// the attributes of the value named before it (a chain of names and
// attributes, `r.states`: nothing is called); otherwise the session's
// names, Starlark's builtins and keywords. Names that start with "__" are
// offered only for a word that starts with "_".
func (s *Session) Completions(before string) (start int, cands []string) {
	start = len(before)
	for start > 0 && isIdentByte(before[start-1]) {
		start--
	}
	word := before[start:]
	if inString(before[:start]) || word != "" && isDigit(word[0]) {
		return start, nil
	}
	var names []string
	if start > 0 && before[start-1] == '.' {
		names = s.attrNames(before[:start-1])
	} else {
		names = s.names()
	}
	for _, n := range names {
		if strings.HasPrefix(n, word) && n != word && (!strings.HasPrefix(n, "__") || strings.HasPrefix(word, "_")) {
			cands = append(cands, n)
		}
	}
	slices.Sort(cands)
	return start, slices.Compact(cands)
}

func (s *Session) names() []string {
	names := append([]string(nil), keywords...)
	for n := range s.globals {
		names = append(names, n)
	}
	for n := range starlark.Universe {
		names = append(names, n)
	}
	return names
}

// attrNames lists the attributes of the value that the dotted chain of
// names at the end of expr stands for, if it is one.
func (s *Session) attrNames(expr string) []string {
	var chain []string
	end := len(expr)
	for {
		i := end
		for i > 0 && isIdentByte(expr[i-1]) {
			i--
		}
		if i == end || isDigit(expr[i]) {
			return nil
		}
		chain = append(chain, expr[i:end])
		if i == 0 || expr[i-1] != '.' {
			if i > 0 && strings.ContainsRune(")]}'\"", rune(expr[i-1])) {
				return nil // an attribute of a call, index or literal: not evaluated
			}
			break
		}
		end = i - 1
	}
	slices.Reverse(chain)
	v, ok := s.globals[chain[0]]
	if !ok {
		v, ok = starlark.Universe[chain[0]]
	}
	for _, name := range chain[1:] {
		if !ok {
			return nil
		}
		v, ok = attr(v, name)
	}
	if h, isAttrs := v.(starlark.HasAttrs); ok && isAttrs {
		return h.AttrNames()
	}
	return nil
}

func attr(v starlark.Value, name string) (starlark.Value, bool) {
	h, ok := v.(starlark.HasAttrs)
	if !ok {
		return nil, false
	}
	x, err := h.Attr(name)
	return x, err == nil && x != nil
}

// inString reports whether the end of s lies in a string literal that
// starts on its last line.
func inString(s string) bool {
	line := s[strings.LastIndexByte(s, '\n')+1:]
	var quote byte
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == '#':
			return true // a comment: nothing to complete either
		}
	}
	return quote != 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// commonPrefix returns the longest prefix that every candidate shares.
func commonPrefix(cands []string) string {
	if len(cands) == 0 {
		return ""
	}
	p := cands[0]
	for _, c := range cands[1:] {
		for !strings.HasPrefix(c, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
