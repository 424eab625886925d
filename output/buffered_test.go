package output_test

import (
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/output"
)

func TestBufferedWriterFlushes(t *testing.T) {
	var dst proctest.Buffer
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
