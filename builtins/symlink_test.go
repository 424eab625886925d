package builtins

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSymlinksOutsideRefused: a symlink under the flow's directory that
// leads out of it (to a file, to a directory, dangling, through a chain of
// links) is refused as `../` is, by read_file, load_json, load_yaml and
// load(); links that stay inside are followed.
func TestSymlinksOutsideRefused(t *testing.T) {
	outside := t.TempDir()
	writeLinked(t, filepath.Join(outside, "secret.txt"), "TOP SECRET\n")
	writeLinked(t, filepath.Join(outside, "secret.json"), `{"k": "TOP SECRET"}`)
	writeLinked(t, filepath.Join(outside, "evil.star"), `x = "TOP SECRET"`)

	dir := t.TempDir()
	writeLinked(t, filepath.Join(dir, "lib", "ok.txt"), "fine\n")
	writeLinked(t, filepath.Join(dir, "lib", "ok.star"), `y = "fine"`)
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(outside, "secret.txt"), "lib/file")
	link(outside, "lib/dir")
	link("../../"+filepath.Base(outside)+"/secret.txt", "lib/relative") // both t.TempDir()s share a parent
	link(filepath.Join(outside, "secret.json"), "lib/data.json")
	link(filepath.Join(outside, "secret.json"), "lib/data.yaml")
	link(filepath.Join(outside, "evil.star"), "lib/evil.star")
	link(filepath.Join(outside, "missing.txt"), "lib/dangling")
	link("file", "lib/chain")
	link("ok.txt", "lib/inside")
	link("lib", "alias")

	for _, c := range []struct{ stmt, name string }{
		{`v = read_file("lib/file")`, "lib/file"},
		{`v = read_file("lib/dir/secret.txt")`, "lib/dir/secret.txt"},
		{`v = read_file("lib/relative")`, "lib/relative"},
		{`v = read_file("lib/chain")`, "lib/chain"},
		{`v = read_file("alias/chain")`, "alias/chain"},
		{`v = read_file("lib/dangling")`, "lib/dangling"},
		{`v = read_file("lib/dir/nothing/here.txt")`, "lib/dir/nothing/here.txt"},
		{`v = load_json("lib/data.json")`, "lib/data.json"},
		{`v = load_yaml("lib/data.yaml")`, "lib/data.yaml"},
		{`v = load_json("lib/dir/secret.json")`, "lib/dir/secret.json"},
		{`load("lib/evil.star", "x")`, "lib/evil.star"},
		{`load("lib/dir/evil.star", "x")`, "lib/dir/evil.star"},
	} {
		flow := filepath.Join(dir, "flow.star")
		writeLinked(t, flow, c.stmt+"\n")
		_, err := Load(flow, LoadOptions{})
		want := c.name + " is outside the flow's directory " + dir + ": a flow may only read files in its own directory tree"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", c.stmt, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "TOP SECRET") {
			t.Errorf("%s: the outside file's content reached the error: %v", c.stmt, err)
		}
	}

	flow := filepath.Join(dir, "flow.star")
	writeLinked(t, flow, `
load("alias/ok.star", "y")
a = read_file("lib/inside")
b = read_file("alias/ok.txt")
`)
	m, err := Load(flow, LoadOptions{})
	if err != nil {
		t.Fatalf("links inside the tree: %v", err)
	}
	if a, b := m.Globals["a"], m.Globals["b"]; a.String() != `"fine\n"` || b.String() != `"fine\n"` {
		t.Errorf("a = %v, b = %v", a, b)
	}
}

// TestFlowDirectoryThroughSymlink: a flow whose directory is reached
// through a symlink reads its own files.
func TestFlowDirectoryThroughSymlink(t *testing.T) {
	real := t.TempDir()
	writeLinked(t, filepath.Join(real, "flow.star"), `v = read_file("sub/a.txt")`)
	writeLinked(t, filepath.Join(real, "sub", "a.txt"), "A")
	alias := filepath.Join(t.TempDir(), "alias")
	if err := os.Symlink(real, alias); err != nil {
		t.Fatal(err)
	}
	m, err := Load(filepath.Join(alias, "flow.star"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Globals["v"].String(); v != `"A"` {
		t.Errorf("v = %s", v)
	}
}

func writeLinked(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
