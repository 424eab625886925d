package repl

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// transcript is what the session showed: lines, possibly styled, kept up
// to maxTranscript, and drawn wrapped to the width.
type transcript struct {
	lines []string
}

const maxTranscript = 10000

func (t *transcript) add(s string) {
	for _, l := range strings.Split(s, "\n") {
		t.lines = append(t.lines, l)
	}
	if over := len(t.lines) - maxTranscript; over > 0 {
		t.lines = append(t.lines[:0:0], t.lines[over:]...)
	}
}

// window returns h screen lines, w cells wide, ending scroll lines before
// the end, top-padded with blank lines. Only the lines it needs are
// wrapped.
func (t *transcript) window(w, h, scroll int) []string {
	if h <= 0 {
		return nil
	}
	var rev []string // screen lines, last first
	for i := len(t.lines) - 1; i >= 0 && len(rev) < h+scroll; i-- {
		wrapped := strings.Split(ansi.Hardwrap(t.lines[i], w, true), "\n")
		for j := len(wrapped) - 1; j >= 0; j-- {
			rev = append(rev, wrapped[j])
		}
	}
	rev = rev[min(scroll, len(rev)):]
	out := make([]string, h)
	for i := 0; i < h && i < len(rev); i++ {
		out[h-1-i] = rev[i]
	}
	return out
}

// height is the number of screen lines of the whole transcript at w cells.
func (t *transcript) height(w int) int {
	n := 0
	for _, l := range t.lines {
		n += strings.Count(ansi.Hardwrap(l, w, true), "\n") + 1
	}
	return n
}
