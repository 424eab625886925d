package starfmt

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// TestBuildifierRefuses: a file wfsh parses but buildifier's parser does
// not is refused at the position buildifier gives, saying so.
func TestBuildifierRefuses(t *testing.T) {
	src := []byte("x = 1\ny = b'bytes'\n")
	if _, err := builtins.ParseFile("b.star", src); err != nil {
		t.Fatalf("wfsh refuses a bytes literal: %v", err)
	}
	_, err := Format("b.star", src)
	if err == nil || !strings.HasPrefix(err.Error(), "b.star:2:") || !strings.Contains(err.Error(), "buildifier") {
		t.Fatalf("Format of a bytes literal: error = %v, want one at b.star:2 naming buildifier's parser", err)
	}
}
