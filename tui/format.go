package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

func itoa(n int) string { return strconv.Itoa(n) }

// groupDigits writes n with thousands separators: 100,000.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if len(s) <= 3 {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	head := len(s) % 3
	if head > 0 {
		b.WriteString(s[:head])
	}
	for i := head; i < len(s); i += 3 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// formatDuration is short and keeps its width steady: 12ms, 3.4s, 2m05s,
// 1h02m.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		s := int(d / time.Second)
		return strconv.Itoa(s/60) + "m" + twoDigits(s%60) + "s"
	}
	m := int(d / time.Minute)
	return strconv.Itoa(m/60) + "h" + twoDigits(m%60) + "m"
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// width is the number of cells s takes; s holds no escape sequences.
func width(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ansi.StringWidth(s)
		}
	}
	return len(s)
}

// fit pads or cuts plain text s to exactly w cells, marking a cut with …
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := width(s)
	switch {
	case n == w:
		return s
	case n < w:
		return s + strings.Repeat(" ", w-n)
	}
	t := ansi.Truncate(s, w, "…")
	if n := ansi.StringWidth(t); n < w {
		t += strings.Repeat(" ", w-n) // a wide character did not fit
	}
	return t
}

// fitRight is fit with the text aligned right.
func fitRight(s string, w int) string {
	n := width(s)
	if n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return fit(s, w)
}
