//go:build !wfshlight

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFmt1000Files runs wfsh fmt --check over a directory of 1,000
// flow files (the repository's example flows and the formatter's test
// inputs, copied round), all read, parsed, formatted and compared; it
// reports files per second.
//
//	go test -run '^$' -bench=Fmt1000Files -benchtime=5x ./cmd/wfsh/
func BenchmarkFmt1000Files(b *testing.B) {
	var sources [][]byte
	for _, pattern := range []string{"../../flows/*.star", "../../flows/*/*.star", "../../starfmt/testdata/*.in.star"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			sources = append(sources, src)
		}
	}
	if len(sources) < 10 {
		b.Fatalf("found %d flow files to copy, want at least 10", len(sources))
	}
	dir := b.TempDir()
	const n = 1000
	var size int64
	for i := range n {
		src := sources[i%len(sources)]
		size += int64(len(src))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("flow%04d.star", i)), src, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		err := formatFiles(io.Discard, io.Discard, []string{dir}, fmtFlags{check: true})
		if code := errorCode(err); err != nil && code != exitFailed {
			b.Fatalf("wfsh fmt --check: %v", err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
}
