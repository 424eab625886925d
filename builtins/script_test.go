package builtins

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/dot"
	"github.com/wfsh/wfsh/runtime"
)

// TestScripts runs testdata/*.star. A file is a series of chunks separated
// by "---" lines, each compiled and run on its own. A chunk must fail iff it
// has a line with `### "regexp"` (or `### col=N "regexp"`): the error must
// match the regexp and be reported at that line (and column).
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.star")
	if err != nil || len(files) == 0 {
		t.Fatalf("no script tests: %v", err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range splitChunks(t, file, string(src)) {
			t.Run(fmt.Sprintf("%s:%d", filepath.Base(file), c.line), func(t *testing.T) {
				runChunk(t, file, c)
			})
		}
	}
}

// A chunk is one part of a script file.
type chunk struct {
	line int    // where the chunk starts in the file
	src  string // the chunk, after blank lines so that positions match the file
	want []wantErr
}

// A wantErr is an expected error, from a ### marker.
type wantErr struct {
	line, col int // col 0 matches any column
	re        *regexp.Regexp
}

// A gotErr is an error that a chunk reported.
type gotErr struct {
	pos    syntax.Position
	msg    string
	detail string // a backtrace, for failure reports
}

func splitChunks(t *testing.T, file, src string) []chunk {
	lines := strings.SplitAfter(src, "\n")
	var chunks []chunk
	start := 0
	for i := 0; i <= len(lines); i++ {
		if i < len(lines) && strings.TrimRight(lines[i], "\r\n") != "---" {
			continue
		}
		c := chunk{line: start + 1, src: strings.Repeat("\n", start) + strings.Join(lines[start:i], "")}
		for j := start; j < i; j++ {
			if w, ok := parseMarker(t, file, j+1, lines[j]); ok {
				c.want = append(c.want, w)
			}
		}
		chunks = append(chunks, c)
		start = i + 1
	}
	return chunks
}

var markerRE = regexp.MustCompile(`###\s*(?:col=(\d+)\s+)?(".*")\s*$`)

// parseMarker parses a line's `### "regexp"` or `### col=N "regexp"`.
func parseMarker(t *testing.T, file string, line int, text string) (wantErr, bool) {
	if !strings.Contains(text, "###") {
		return wantErr{}, false
	}
	m := markerRE.FindStringSubmatch(strings.TrimRight(text, "\r\n"))
	if m == nil {
		t.Fatalf("%s:%d: bad marker, want ### \"regexp\" or ### col=N \"regexp\"", file, line)
	}
	pattern, err := strconv.Unquote(m[2])
	if err != nil {
		t.Fatalf("%s:%d: bad marker: %v", file, line, err)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("%s:%d: bad marker: %v", file, line, err)
	}
	col, _ := strconv.Atoi(m[1])
	return wantErr{line: line, col: col, re: re}, true
}

// runChunk runs a chunk as a flow file of testdata/: the whole dialect,
// with assert.star loadable besides the files of testdata/.
func runChunk(t *testing.T, file string, c chunk) {
	e := newEnv(filepath.Dir(file), LoadOptions{Print: func(msg string) { t.Log(msg) }, Draw: testDraw})
	maps.Copy(e.predeclared, scriptPredeclared())
	thread := &starlark.Thread{
		Name:  fmt.Sprintf("%s:%d", file, c.line),
		Load:  scriptLoader(e),
		Print: func(_ *starlark.Thread, msg string) { t.Log(msg) },
	}
	starlarktest.SetReporter(thread, t)
	_, err := e.execSource(thread, file, []byte(c.src))
	checkErrors(t, c.want, errorsOf(err, file))
}

func scriptLoader(e *env) func(*starlark.Thread, string) (starlark.StringDict, error) {
	return func(thread *starlark.Thread, module string) (starlark.StringDict, error) {
		if module == "assert.star" {
			return starlarktest.LoadAssertModule()
		}
		return e.loadModule(thread, module)
	}
}

// errorsOf lists the errors in err with their positions. An evaluation
// error is placed at the innermost call frame in file.
func errorsOf(err error, file string) []gotErr {
	var eerr *starlark.EvalError
	var rerrs resolve.ErrorList
	var serr syntax.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &eerr):
		return []gotErr{{pos: innermost(eerr.CallStack, file), msg: eerr.Msg, detail: eerr.Backtrace()}}
	case errors.As(err, &rerrs):
		var got []gotErr
		for _, e := range rerrs {
			got = append(got, gotErr{pos: e.Pos, msg: e.Msg, detail: e.Error()})
		}
		return got
	case errors.As(err, &serr):
		return []gotErr{{pos: serr.Pos, msg: serr.Msg, detail: serr.Error()}}
	}
	return []gotErr{{msg: err.Error(), detail: err.Error()}}
}

func innermost(stack starlark.CallStack, file string) syntax.Position {
	for i := range stack {
		if pos := stack.At(i).Pos; pos.Filename() == file {
			return pos
		}
	}
	return syntax.Position{}
}

// checkErrors matches each error to a marker, and each marker to an error.
func checkErrors(t *testing.T, want []wantErr, got []gotErr) {
	matched := make([]bool, len(want))
	for _, g := range got {
		i := slices.IndexFunc(want, g.matches)
		if i < 0 {
			t.Errorf("unexpected error at %s: %s\n%s", g.pos, g.msg, g.detail)
			continue
		}
		matched[i] = true
	}
	for i, w := range want {
		if !matched[i] {
			t.Errorf("line %d: no error matching %q at this line%s", w.line, w.re, w.colNote())
		}
	}
}

func (g gotErr) matches(w wantErr) bool {
	return int(g.pos.Line) == w.line && (w.col == 0 || int(g.pos.Col) == w.col) && w.re.MatchString(g.msg)
}

func (w wantErr) colNote() string {
	if w.col == 0 {
		return ""
	}
	return fmt.Sprintf(", column %d", w.col)
}

// testDraw draws as the runner does (runner.Draw), for flow.visualize().
func testDraw(ctx context.Context, g *runtime.Graph, states map[string]runtime.State, format string) ([]byte, error) {
	out, err := dot.Draw(ctx, g, states, format)
	if errors.Is(err, dot.ErrNoDot) {
		return nil, &NoGraphvizError{Hint: dot.GraphvizHint}
	}
	return out, err
}
