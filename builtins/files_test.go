package builtins

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestModuleFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("flow.star", `
load("lib/common.star", "x")
load("lib/common.star", "x")
conf = load_yaml("jobs/load.yaml")
text = read_file("notes.txt")
`)
	write("lib/common.star", `x = load_json("data.json")`)
	write("lib/data.json", `{"a": 1}`)
	write("jobs/load.yaml", "a: 1\n")
	write("notes.txt", "hello\n")
	write("unused.yaml", "b: 2\n")
	m, err := Load(filepath.Join(dir, "flow.star"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"flow.star", "jobs/load.yaml", "lib/common.star", "lib/data.json", "notes.txt"}
	if got := m.Files(); !slices.Equal(got, want) {
		t.Errorf("Files() = %q, want %q", got, want)
	}
	if m.Root() != dir {
		t.Errorf("Root() = %q, want %q", m.Root(), dir)
	}
}
