package starfmt

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.star")

// TestGolden formats each testdata/NAME.in.star and compares the result
// with NAME.out.star; the result must parse as wfsh and format to itself.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.star")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no testdata/*.in.star (%v)", err)
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Format(in, src)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(in, ".in.star") + ".out.star"
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantSrc, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantSrc) {
				t.Errorf("Format(%s) =\n%s\nwant (%s)\n%s", in, got, want, wantSrc)
			}
			stable(t, want, got)
		})
	}
}

// stable checks that formatted source parses as wfsh and formats to itself.
func stable(t *testing.T, name string, formatted []byte) {
	t.Helper()
	if _, err := builtins.ParseFile(name, formatted); err != nil {
		t.Fatalf("formatted %s does not parse as wfsh: %v\n%s", name, err, formatted)
	}
	again, err := Format(name, formatted)
	if err != nil {
		t.Fatalf("formatting %s again: %v", name, err)
	}
	if !bytes.Equal(again, formatted) {
		t.Fatalf("formatting %s twice changes it:\nonce:\n%s\ntwice:\n%s", name, formatted, again)
	}
}

// TestErrorsKeepPosition: a file wfsh cannot parse is refused with the
// error wfsh check reports, at the same line.
func TestErrorsKeepPosition(t *testing.T) {
	for src, line := range map[string]string{
		"@task\nx = 1\n":                    ":1:1: ",
		"def f():\n  return (\n":            ":3:1: ",
		"x = 1\n\n@task\ndef f(:\n  pass\n": ":4:7: ",
	} {
		_, err := Format("bad.star", []byte(src))
		_, want := builtins.ParseFile("bad.star", []byte(src))
		if err == nil || want == nil || err.Error() != want.Error() || !strings.HasPrefix(err.Error(), "bad.star"+line) {
			t.Errorf("Format(%q) error = %v, want %v at bad.star%s", src, err, want, line)
		}
	}
}

// TestNULRefused: wfsh's parser stops at a NUL byte in a comment and
// ignores the rest of the file; the formatter refuses such a file at the
// NUL rather than format what wfsh never reads.
func TestNULRefused(t *testing.T) {
	src := []byte("x = 1\n# \u00e9\x00\ny = (\n")
	_, err := Format("nul.star", src)
	if err == nil || !strings.HasPrefix(err.Error(), "nul.star:2:4: NUL byte") {
		t.Fatalf("Format of a file with a NUL: error = %v, want one at nul.star:2:4", err)
	}
}

// TestBuildifierRefuses: a file wfsh parses but buildifier's parser does
// not (indentation that mixes tabs and spaces, which wfsh fmt does not
// turn into spaces) is refused at the position buildifier gives, saying so.
func TestBuildifierRefuses(t *testing.T) {
	src := []byte("x = 1\ndef f():\n\tif x:\n\t        return x\n")
	if _, err := builtins.ParseFile("tab.star", src); err != nil {
		t.Fatalf("wfsh refuses tab indentation: %v", err)
	}
	_, err := Format("tab.star", src)
	if err == nil || !strings.HasPrefix(err.Error(), "tab.star:3:") || !strings.Contains(err.Error(), "buildifier") {
		t.Fatalf("Format with a tab: error = %v, want one at tab.star:3 naming buildifier's parser", err)
	}
}

// TestValuesKept: literals keep their values through the formatter,
// which may spell them differently (b'\xff' as b"\377", 'é' as "é",
// 00.5 as 0.5, 1.5E+00 as 1.5).
func TestValuesKept(t *testing.T) {
	for _, name := range []string{"testdata/bytes.in.star", "testdata/values.in.star"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Format(name, src)
		if err != nil {
			t.Fatal(err)
		}
		before, after := globals(t, src), globals(t, out)
		if before != after || !strings.Contains(before, `b"\xff\x00"`) {
			t.Errorf("%s: globals before formatting:\n%s\nafter:\n%s", name, before, after)
		}
	}
}

// globals runs a file of plain Starlark and prints its globals.
func globals(t *testing.T, src []byte) string {
	t.Helper()
	prog, err := builtins.Compile("bytes.star", src, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	g, err := prog.Init(&starlark.Thread{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, k := range g.Keys() {
		fmt.Fprintf(&b, "%s = %s\n", k, g[k])
	}
	return b.String()
}
