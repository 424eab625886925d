package repl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHistoryFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "history")
	h, err := LoadHistory(file)
	if err != nil || h.Len() != 0 {
		t.Fatalf("a missing file: %v, %d entries", err, h.Len())
	}
	for _, e := range []string{"x = 1", "x = 1", "   ", "@task\ndef f():\n    return 1\n\n", "r.states"} {
		if err := h.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"x = 1", "@task\ndef f():\n    return 1", "r.states"}
	again, err := LoadHistory(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*History{h, again} {
		if got.Len() != len(want) {
			t.Fatalf("%d entries, want %d", got.Len(), len(want))
		}
		for i, w := range want {
			if got.At(i) != w {
				t.Errorf("entry %d = %q, want %q", i, got.At(i), w)
			}
		}
	}
	data, _ := os.ReadFile(file)
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Errorf("the file has %d lines, want one per entry:\n%s", n, data)
	}
}

func TestHistoryKeepsTheLast(t *testing.T) {
	file := filepath.Join(t.TempDir(), "history")
	h, _ := LoadHistory(file)
	for i := range maxHistory + 10 {
		if err := h.Add(strings.Repeat("x", i%7+1) + string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	again, _ := LoadHistory(file)
	if h.Len() != maxHistory || again.Len() != maxHistory {
		t.Errorf("%d entries in memory, %d in the file, want %d", h.Len(), again.Len(), maxHistory)
	}
	if again.At(again.Len()-1) != h.At(h.Len()-1) {
		t.Errorf("the last entry is lost: %q vs %q", again.At(again.Len()-1), h.At(h.Len()-1))
	}
}

// TestHistoryWriteError: a history file that cannot be written is said
// once, and the session keeps its history in memory.
func TestHistoryWriteError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "hist")
	h, err := LoadHistory(file)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the directory should be: MkdirAll fails.
	if err := os.WriteFile(filepath.Join(dir, "sub"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = h.Add("x = 1")
	if err == nil || !strings.Contains(err.Error(), "history not saved to "+file) {
		t.Fatalf("Add: %v, want history not saved to %s", err, file)
	}
	if err := h.Add("y = 2"); err != nil {
		t.Errorf("second Add: %v, want nil (said once)", err)
	}
	if h.Len() != 2 || h.At(1) != "y = 2" {
		t.Errorf("history in memory: %d entries, want both", h.Len())
	}
}
