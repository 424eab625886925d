package runtime

import (
	"unicode/utf8"
)

// Printable returns s with its control characters escaped, for a
// terminal: a newline in a task's name would forge a log line, an escape
// sequence would move the cursor or change colours, a NUL or a
// right-to-left override would hide what follows. C0 and C1 controls,
// DEL, the bidirectional formatting characters and invalid UTF-8 bytes are
// written as Go writes them in a quoted string (\n, \x1b, \u0085,
// \u202e); tabs are kept, and s is returned as it is when it has none of
// these, which is the usual case.
func Printable(s string) string {
	i := unprintable(s)
	if i < 0 {
		return s
	}
	return string(AppendPrintable(make([]byte, 0, len(s)+8), s))
}

// AppendPrintable appends Printable(s) to dst.
func AppendPrintable(dst []byte, s string) []byte {
	for {
		i := unprintable(s)
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = appendEscape(dst, 'x', rune(s[i]), 2)
		} else {
			dst = escapeRune(dst, r)
		}
		s = s[i+size:]
	}
}

// unprintable is the index of the first character of s that Printable
// escapes, or -1. Printable ASCII, the usual text, is checked eight bytes
// at a time.
func unprintable(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for i := 0; i < len(s); i++ {
		if i+8 <= len(s) {
			x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			// No byte below 0x20, none above 0x7e: printable ASCII.
			if (x-ones*0x20)&^x&highs == 0 && (x+ones*(127-0x7e)|x)&highs == 0 {
				i += 7
				continue
			}
		}
		c := s[i]
		if c-0x20 < 0x7f-0x20 || c == '\t' {
			continue
		}
		if c < utf8.RuneSelf {
			return i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || isControl(r) {
			return i
		}
		i += size - 1
	}
	return -1
}

// isControl reports whether a non-ASCII rune is a C1 control or a
// bidirectional formatting character.
func isControl(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || r == 0x061c || r == 0x200e || r == 0x200f ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

func escapeRune(dst []byte, r rune) []byte {
	switch r {
	case '\a':
		return append(dst, `\a`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\v':
		return append(dst, `\v`...)
	}
	if r < utf8.RuneSelf {
		return appendEscape(dst, 'x', r, 2)
	}
	return appendEscape(dst, 'u', r, 4)
}

func appendEscape(dst []byte, kind byte, r rune, digits int) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '\\', kind)
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		dst = append(dst, hex[r>>shift&0xf])
	}
	return dst
}
