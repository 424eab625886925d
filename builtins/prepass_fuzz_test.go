package builtins

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.starlark.net/syntax"
)

// FuzzParseFile checks that the decorator pre-pass never panics or hangs,
// returns only syntax errors, is plain parsing when there is no '@', and
// that its one-parse fast path agrees with the parse-per-decorator path.
func FuzzParseFile(f *testing.F) {
	files, err := filepath.Glob("testdata/*.star")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, src := range fuzzSeeds {
		f.Add([]byte(src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := parseWithin(t, src, 10*time.Second)
		if err != nil && !errors.As(err, new(syntax.Error)) {
			t.Fatalf("got %T error %v, want a syntax.Error", err, err)
		}
		if !utf8.Valid(src) {
			if err == nil || !strings.Contains(err.Error(), "invalid UTF-8") {
				t.Fatalf("source not UTF-8: got %v, want it refused", err)
			}
			return
		}
		if bytes.IndexByte(src, '@') < 0 {
			want, wantErr := FileOptions.Parse("fuzz.star", src, 0)
			sameResult(t, file, err, want, wantErr)
		} else if err == nil {
			want, _, wantErr := parseStepwise("fuzz.star", src)
			sameResult(t, file, err, want, wantErr)
		}
	})
}

var fuzzSeeds = []string{
	"",
	"@",
	"@\n",
	"@@a\ndef f(): pass\n",
	"@a\n@b(1,\n 2)\ndef f():\n  pass\n",
	"def g():\n    @a\n    def f(): pass\n    return f\n",
	"if x:\n  @a\n  def f(): pass\nelse:\n  @b\n  def f(): pass\n",
	"s = '''\n@a\n'''\n# @b\n@c\ndef f(): pass\n",
	"x = [\n@a\n]\n",
	"f(1,\n  @a)\n",
	"@a\nx = 1\n",
	"@a = 1\n",
	"@-a\ndef f(): pass\n",
	"@a if b else c\ndef f(): pass\n",
	"@a or b\ndef f(): pass\n",
	"x = 1\r\n@a\r\ndef f():\r\n\tpass\r\n",
	"x = 'é'\r@a\rdef f(): pass\r",
	"@a\n\n# comment\n\n@b\ndef f(): pass\n",
	"\t@a\ndef f(): pass\n",
	"@a\ndef f(:\n",
	"@a \\\n  (1)\ndef f(): pass\n",
}

// parseWithin runs ParseFile, failing the test if it does not return in time.
func parseWithin(t *testing.T, src []byte, limit time.Duration) (*syntax.File, error) {
	type result struct {
		f   *syntax.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := ParseFile("fuzz.star", src)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.f, r.err
	case <-time.After(limit):
		t.Fatalf("ParseFile(%q) did not return within %v", src, limit)
		return nil, nil
	}
}

func sameResult(t *testing.T, got *syntax.File, gotErr error, want *syntax.File, wantErr error) {
	t.Helper()
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("got error %v, want %v", gotErr, wantErr)
	}
	if gotErr == nil && !slices.Equal(shape(got), shape(want)) {
		t.Fatalf("got tree\n%q\nwant\n%q", shape(got), shape(want))
	}
}

// shape lists the type and span of every node in f.
func shape(f *syntax.File) []string {
	var out []string
	for _, stmt := range f.Stmts {
		syntax.Walk(stmt, func(n syntax.Node) bool {
			if n == nil { // Walk's end-of-children call
				return false
			}
			start, end := n.Span()
			out = append(out, fmt.Sprintf("%T %d:%d-%d:%d", n, start.Line, start.Col, end.Line, end.Col))
			return true
		})
	}
	return out
}
