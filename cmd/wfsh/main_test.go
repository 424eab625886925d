package main

import (
	"bytes"
	"strings"
	"testing"
)

// panicking runs f under recoverInternal, as execute runs a command.
func panicking(f func()) (code int, stderr string) {
	var buf bytes.Buffer
	code = func() (code int) {
		defer recoverInternal(&buf, &code)
		f()
		return exitSuccess
	}()
	return code, buf.String()
}

// A panic of a command is one line on stderr and exit status 2; the Go
// stack only with WFSH_DEBUG set.
func TestPanicIsOneLine(t *testing.T) {
	t.Setenv("WFSH_DEBUG", "")
	var l []int
	code, stderr := panicking(func() { _ = l[len(l)-1] })
	if code != exitBadInput {
		t.Errorf("exit status %d, want %d", code, exitBadInput)
	}
	want := "wfsh: internal error: runtime error: index out of range [-1]; this is a bug in wfsh, not in the flow: please report it"
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want it to start with %q", stderr, want)
	}
	if strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "goroutine") {
		t.Errorf("stderr is not one line without a stack: %q", stderr)
	}

	t.Setenv("WFSH_DEBUG", "1")
	_, stderr = panicking(func() { panic("boom") })
	if !strings.Contains(stderr, "internal error: boom;") || !strings.Contains(stderr, "goroutine") || !strings.Contains(stderr, "TestPanicIsOneLine") {
		t.Errorf("with WFSH_DEBUG=1, want the message and the stack, got %q", stderr)
	}
}
