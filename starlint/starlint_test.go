package starlint

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/starfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and *.fixed")

// TestGolden lints each testdata/NAME.star: its findings must be
// NAME.golden; --fix must give NAME.fixed, a file wfsh parses, already
// formatted, whose findings are those without a fix.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.star")
	if err != nil || len(files) < 3 {
		t.Fatalf("want testdata/*.star, got %v (%v)", files, err)
	}
	for _, path := range files {
		if filepath.Base(path) == "lib.star" {
			continue // loaded by the others
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			findings, err := Lint(path, src)
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) == 0 {
				t.Fatal("no findings: each test file has some")
			}
			base := strings.TrimSuffix(path, ".star")
			golden(t, base+".golden", []byte(lines(findings)))
			fixed, left, err := Fix(path, src)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, base+".fixed", fixed)
			checkFixed(t, path, fixed, findings, left)
		})
	}
}

// checkFixed: the fixed file parses, is formatted, and keeps only findings
// that had no fix (a fix may remove others: `l += [2]` made `l.append(2)`
// no longer assigns the confusing name l).
func checkFixed(t *testing.T, path string, fixed []byte, before, left []Finding) {
	t.Helper()
	if _, err := builtins.ParseFile(path, fixed); err != nil {
		t.Fatalf("the fixed file does not parse: %v", err)
	}
	if again, err := starfmt.Format(path, fixed); err != nil || !bytes.Equal(again, fixed) {
		t.Fatalf("the fixed file is not formatted (%v)", err)
	}
	unfixable := map[string]int{}
	for _, f := range before {
		if f.Fix == "" {
			unfixable[f.Category+": "+f.Message]++
		}
	}
	for _, f := range left {
		key := f.Category + ": " + f.Message
		if f.Fix != "" || unfixable[key] == 0 {
			t.Errorf("after --fix: %s: want only findings that had no fix", f)
		}
		unfixable[key]--
	}
}

func lines(findings []Finding) string {
	var b strings.Builder
	for _, f := range findings {
		b.WriteString(f.String())
		if f.Fix != "" {
			b.WriteString("\n    fix: " + f.Fix)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; got:\n%s", path, got)
	}
}
