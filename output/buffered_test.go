package output_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/output"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBufferedWriterFlushes(t *testing.T) {
	var dst lockedBuffer
	w := output.NewBufferedWriter(&dst, 10*time.Millisecond)
	w.Write([]byte("first\n"))
	if dst.String() != "" {
		t.Fatalf("written through at once: %q", dst.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for dst.String() != "first\n" {
		if time.Now().After(deadline) {
			t.Fatalf("not flushed by the ticker: %q", dst.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Write([]byte("second\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dst.String(); got != "first\nsecond\n" {
		t.Fatalf("after Close: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
