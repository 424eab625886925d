package starfmt

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/wfsh/wfsh/builtins"
)

// A unit is one flow file's source: a .star file, a chunk of a script
// test (builtins/testdata: chunks separated by "---" lines), or a .star
// member of a CLI test's txtar archive.
type unit struct {
	name string
	src  []byte
}

// repoUnits walks the module from its root for every .star source.
func repoUnits(t testing.TB) []unit {
	t.Helper()
	var units []unit
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != ".." {
			return filepath.SkipDir
		}
		switch filepath.Ext(path) {
		case ".star":
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			units = append(units, chunks(path, src)...)
		case ".txtar":
			a, err := txtar.ParseFile(path)
			if err != nil {
				return err
			}
			for _, f := range a.Files {
				if filepath.Ext(f.Name) == ".star" {
					units = append(units, unit{path + ":" + f.Name, f.Data})
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return units
}

// chunks splits a script test into its chunks, as the script driver of
// builtins does; any other file is one chunk.
func chunks(path string, src []byte) []unit {
	lines := bytes.SplitAfter(src, []byte("\n"))
	var units []unit
	var cur []byte
	n := 1
	for _, l := range lines {
		if string(bytes.TrimRight(l, "\r\n")) == "---" {
			units = append(units, unit{path + "#" + strconv.Itoa(n), cur})
			cur, n = nil, n+1
			continue
		}
		cur = append(cur, l...)
	}
	if n == 1 {
		return []unit{{path, src}}
	}
	return append(units, unit{path + "#" + strconv.Itoa(n), cur})
}

// TestRepositoryIdempotent formats every flow source of the repository
// that wfsh parses: each must format, parse as wfsh again and format to
// itself.
func TestRepositoryIdempotent(t *testing.T) {
	units := repoUnits(t)
	formatted, refused := 0, 0
	for _, u := range units {
		if _, err := builtins.ParseFile(u.name, u.src); err != nil {
			refused++ // a test of a bad file: wfsh refuses it too
			continue
		}
		out, err := Format(u.name, u.src)
		if err != nil {
			t.Errorf("%s: %v", u.name, err)
			continue
		}
		stable(t, u.name, out)
		formatted++
	}
	t.Logf("%d flow sources formatted twice, %d refused by wfsh itself", formatted, refused)
	if formatted < len(units)/2 {
		t.Fatalf("formatted %d of %d flow sources: the walk found too few", formatted, len(units))
	}
}

// TestExampleFlowsKeepDAG formats each example flow of flows/ that loads
// no plugin and checks that every flow in it builds the same DAG before
// and after, as FuzzFormatKeepsDAG does for generated files.
func TestExampleFlowsKeepDAG(t *testing.T) {
	files, err := filepath.Glob("../flows/*.star")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	checked := 0
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(src, []byte(`load("@`)) {
			continue // plugins are not started here
		}
		sameDAG(t, dir, path, src)
		checked++
	}
	if checked < 5 {
		t.Fatalf("checked %d example flows, want at least 5", checked)
	}
	t.Logf("%d example flows build the same DAG formatted", checked)
}
