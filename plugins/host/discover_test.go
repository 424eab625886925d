package host

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakePlugin writes an executable (or not) file named wfsh-plugin-NAME.
func fakePlugin(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, Prefix+name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSearchDirs checks the lookup order: wfsh's own directory, then each
// directory of $WFSH_PLUGIN_DIR, then $PATH.
func TestSearchDirs(t *testing.T) {
	sep := string(filepath.ListSeparator)
	t.Setenv("WFSH_PLUGIN_DIR", "/p1"+sep+"/p2")
	t.Setenv("PATH", "/usr/bin"+sep+"/bin")
	want := []string{"/opt/wfsh/bin", "/p1", "/p2", "/usr/bin", "/bin"}
	if got := SearchDirs("/opt/wfsh/bin/wfsh"); !reflect.DeepEqual(got, want) {
		t.Errorf("SearchDirs = %v, want %v", got, want)
	}
	t.Setenv("WFSH_PLUGIN_DIR", "")
	if got := SearchDirs(""); !reflect.DeepEqual(got, want[3:]) {
		t.Errorf("SearchDirs without self or WFSH_PLUGIN_DIR = %v, want %v", got, want[3:])
	}
}

// TestFindOrder checks that the first directory holding a plugin wins,
// that an executable of a built-in plugin's name overrides wfsh's own, and
// that files which are not executable, directories and the bare prefix are
// not plugins.
func TestFindOrder(t *testing.T) {
	root := t.TempDir()
	self := filepath.Join(root, "bin", "wfsh")
	next, envDir, pathDir := filepath.Join(root, "bin"), filepath.Join(root, "env"), filepath.Join(root, "path")
	fakePlugin(t, next, "gcp", 0o755)
	fakePlugin(t, envDir, "gcp", 0o755)
	fakePlugin(t, envDir, "hello", 0o755)
	fakePlugin(t, pathDir, "hello", 0o755)
	fakePlugin(t, pathDir, "kubernetes", 0o755)
	fakePlugin(t, pathDir, "shell", 0o755) // overrides the built-in
	fakePlugin(t, envDir, "notexec", 0o644)
	fakePlugin(t, pathDir, "", 0o755) // "wfsh-plugin-": no name
	if err := os.Mkdir(filepath.Join(envDir, Prefix+"adir"), 0o755); err != nil {
		t.Fatal(err)
	}

	sep := string(filepath.ListSeparator)
	t.Setenv("WFSH_PLUGIN_DIR", filepath.Join(root, "missing")+sep+envDir)
	t.Setenv("PATH", pathDir)
	o := &Options{Self: self, Builtin: []string{"shell", "extra"}}

	for name, want := range map[string]Found{
		"gcp":        {Name: "gcp", Path: filepath.Join(next, Prefix+"gcp")},
		"hello":      {Name: "hello", Path: filepath.Join(envDir, Prefix+"hello")},
		"kubernetes": {Name: "kubernetes", Path: filepath.Join(pathDir, Prefix+"kubernetes")},
		"shell":      {Name: "shell", Path: filepath.Join(pathDir, Prefix+"shell")},
		"extra":      {Name: "extra", Path: self, Builtin: true},
	} {
		got, err := o.Find(name)
		if err != nil || got != want {
			t.Errorf("Find(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}

	var names []string
	for _, f := range o.Discover() {
		names = append(names, f.Name)
		if want, _ := o.Find(f.Name); f != want {
			t.Errorf("Discover has %+v, Find says %+v", f, want)
		}
	}
	if got, want := strings.Join(names, ","), "extra,gcp,hello,kubernetes,shell"; got != want {
		t.Errorf("Discover = %s, want %s", got, want)
	}

	for _, name := range []string{"notexec", "adir", "nosuch"} {
		_, err := o.Find(name)
		if err == nil || !strings.Contains(err.Error(), `no plugin named "`+name+`" (plugins found: extra, gcp, hello, kubernetes, shell)`) {
			t.Errorf("Find(%q): %v", name, err)
		}
	}
}

// TestFindNothing checks the message when no plugin at all is found.
func TestFindNothing(t *testing.T) {
	o := &Options{Dirs: []string{t.TempDir()}}
	_, err := o.Find("x")
	if err == nil || !strings.Contains(err.Error(), `no plugin named "x" (no plugins found)`) {
		t.Errorf("Find: %v", err)
	}
	if got := o.Discover(); len(got) != 0 {
		t.Errorf("Discover = %v", got)
	}
}

// TestTail checks the stderr tail of a crash message: whole lines across
// writes, the last max lines, and a last line without a newline.
func TestTail(t *testing.T) {
	tl := &tail{max: 3}
	if got := tl.String(); got != "" {
		t.Errorf("empty tail = %q", got)
	}
	for _, w := range []string{"one\ntw", "o\n", "three\nfour\n", "fi", "ve"} {
		if n, err := tl.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, want := tl.String(), "; last stderr lines:\n  three\n  four\n  five"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
	// String does not consume or change the lines.
	if got := tl.String(); !strings.HasSuffix(got, "three\n  four\n  five") {
		t.Errorf("second String = %q", got)
	}
	tl.Write([]byte("\n"))
	if got := tl.String(); got != "; last stderr lines:\n  three\n  four\n  five" {
		t.Errorf("after the newline = %q", got)
	}
}
