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

// IsPrintable reports whether Printable(s) is s: s has nothing to escape
// (and so no newline).
func IsPrintable(s string) bool { return unprintable(s) < 0 }

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
// escapes, or -1. Printable ASCII, the usual text, is checked sixteen
// bytes at a time, and the last sixteen bytes of s at once when all
// before them are.
func unprintable(s string) int {
	// Most strings of a log line are short and printable ASCII: a name, a
	// state, a separator. Up to sixteen bytes are checked at once (in two
	// words that overlap when there are fewer), fewer than eight one by one.
	if n := len(s); n >= 8 && n <= 16 {
		if printableASCII(word(s), word(s[n-8:])) {
			return -1
		}
	} else if n < 8 && shortPrintableASCII(s) {
		return -1
	}
	for i := 0; ; {
		start := i
		for i+16 <= len(s) && printableASCII(word(s[i:]), word(s[i+8:])) {
			i += 16
		}
		if i == len(s) || (i > start && i+16 > len(s) && printableASCII(word(s[len(s)-16:]), word(s[len(s)-8:]))) {
			return -1
		}
		c := s[i]
		if c-0x20 < 0x7f-0x20 || c == '\t' {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || isControl(r) {
			return i
		}
		i += size
	}
}

// shortPrintableASCII reports whether every byte of s is printable ASCII.
func shortPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-0x20 >= 0x7f-0x20 {
			return false
		}
	}
	return true
}

// printableASCII reports whether the 16 bytes of x and y are printable
// ASCII: none below 0x20, none above 0x7e. A byte below 0x20 sets its
// high bit in x-0x20 (and has none of its own); one above 0x7e has it
// set, or sets it when 1 is added.
func printableASCII(x, y uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	return ((x-ones*0x20)&^x|(x+ones|x)|(y-ones*0x20)&^y|(y+ones|y))&highs == 0
}

// word is w's first 8 bytes, little endian: one load.
func word(w string) uint64 {
	w = w[:8] // one bounds check, not one per byte
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
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
