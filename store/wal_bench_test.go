package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wfsh/wfsh/runtime"
)

// logOf fills a new store in dir with small runs until its write-ahead
// log holds at least size bytes (0: then empties it), closes it and
// returns its path and the log's size.
func logOf(b *testing.B, dir string, size int64) (string, int64) {
	b.Helper()
	path := filepath.Join(dir, "wfsh.db")
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; ; i++ {
		st, err := os.Stat(path + "-wal")
		if err != nil {
			b.Fatal(err)
		}
		if st.Size() >= size {
			break
		}
		r := s.NewRecorder(RecorderOptions{Run: RunInfo{ID: fmt.Sprintf("run-%d", i), Flow: "F", File: "f.star"}})
		for _, e := range events(fmt.Sprintf("run-%d", i), runtime.Success) {
			r.Emit(e)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if size == 0 {
		if _, err := s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	st, err := os.Stat(path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkOpenAfterLog measures opening the store as each wfsh process
// does, with the write-ahead log earlier runs left: SQLite reads and
// checksums all of it to rebuild its index (docs/performance.md, W0).
func BenchmarkOpenAfterLog(b *testing.B) {
	for _, size := range []int64{0, 1 << 20, 2 << 20, 3 << 20} {
		path, got := logOf(b, b.TempDir(), size)
		b.Run(fmt.Sprintf("log=%dKiB", got>>10), func(b *testing.B) {
			for b.Loop() {
				s, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}

// BenchmarkTrimLog measures what emptying a log of MaxLogSize costs the
// run that does it: the checkpoint copies the log's pages into the
// database and syncs both.
func BenchmarkTrimLog(b *testing.B) {
	src, got := logOf(b, b.TempDir(), 3<<20)
	b.Run(fmt.Sprintf("log=%dKiB", got>>10), func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			for _, suffix := range []string{"", "-wal"} {
				data, err := os.ReadFile(src + suffix)
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "wfsh.db"+suffix), data, 0o600); err != nil {
					b.Fatal(err)
				}
			}
			s, err := Open(filepath.Join(dir, "wfsh.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := s.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
	})
}
