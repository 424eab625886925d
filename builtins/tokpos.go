package builtins

import (
	"bytes"
	"errors"
	"strings"

	"go.starlark.net/syntax"
)

// atTokenStart moves the position of the parser's "got X, want Y" errors
// from just after the unexpected token, where go.starlark.net reports it,
// to the token's first character, as a user reads it: `def f(a, b:` is
// wrong at the ':', and a def missing its colon at the end of its line,
// not at the start of the next one. Other errors are returned as they are.
func atTokenStart(src []byte, err error) error {
	var serr syntax.Error
	if !errors.As(err, &serr) || !strings.HasPrefix(serr.Msg, "got ") {
		return err
	}
	tok, _, _ := strings.Cut(strings.TrimPrefix(serr.Msg, "got "), ", want")
	end := offset(src, serr.Pos)
	if end < 0 {
		return err
	}
	start := tokenStart(src, end, tok)
	if start < 0 || start >= end {
		return err
	}
	for i, pos := range runePositions(src) {
		if i == start {
			serr.Pos.Line, serr.Pos.Col = pos.Line, pos.Col
			return serr
		}
	}
	return err
}

// tokenStart returns the offset where the token described by tok (the
// parser's name for it) ends at src[end], or -1 when it cannot tell.
func tokenStart(src []byte, end int, tok string) int {
	switch {
	case len(tok) > 2 && tok[0] == '\'' && tok[len(tok)-1] == '\'':
		// punctuation or a keyword, quoted: its text is known
		text := tok[1 : len(tok)-1]
		if bytes.HasSuffix(src[:end], []byte(text)) {
			return end - len(text)
		}
	case tok == "newline":
		i := end
		if i > 0 && src[i-1] == '\n' {
			i--
		}
		if i > 0 && src[i-1] == '\r' {
			i--
		}
		return i
	case tok == "identifier" || strings.HasSuffix(tok, "int literal") || strings.HasSuffix(tok, "float literal"):
		i := end
		for i > 0 && isWordByte(src[i-1]) {
			i--
		}
		return i
	case tok == "string literal" || tok == "bytes literal":
		return stringStart(src, end)
	}
	return -1
}

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// stringStart returns the offset of the prefix or opening quote of the
// string literal that ends at src[end], or -1.
func stringStart(src []byte, end int) int {
	if end == 0 || (src[end-1] != '"' && src[end-1] != '\'') {
		return -1
	}
	quote := src[end-1 : end]
	if end >= 3 && bytes.Equal(src[end-3:end], bytes.Repeat(quote, 3)) {
		quote = src[end-3 : end]
	}
	i := bytes.LastIndex(src[:end-len(quote)], quote)
	for i > 0 && src[i-1] == '\\' { // an escaped quote inside: look further back
		i = bytes.LastIndex(src[:i], quote)
	}
	if i < 0 {
		return -1
	}
	for i > 0 && strings.IndexByte("rRbB", src[i-1]) >= 0 {
		i--
	}
	return i
}
