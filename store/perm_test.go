package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wfsh/wfsh/runtime"
)

// TestFilesPrivate: every file the store creates (the database, its
// write-ahead log and the log's index) is readable by its owner only; the
// logs and results of runs are nobody else's to read.
func TestFilesPrivate(t *testing.T) {
	s, path := openTemp(t)
	recordRun(t, s, "22222222-bbbb", "F", events("22222222-bbbb", runtime.Success), RecorderOptions{})
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group and others", e.Name(), perm)
		}
	}
	for _, name := range []string{"wfsh.db", "wfsh.db-wal", "wfsh.db-shm"} {
		if !seen[name] {
			t.Errorf("%s not created (files: %v)", name, seen)
		}
	}
}
