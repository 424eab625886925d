package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script/*.txtar")

func TestMain(m *testing.M) {
	testscript.Main(cleanAfter{m}, map[string]func(){
		"wfsh": func() { os.Exit(Main()) },
	})
}

// cleanAfter runs the tests, then removes the wfsh binary they shared
// (wfshBinary) and their WFSH_HOME (testHome): testscript.Main exits once
// they have run.
type cleanAfter struct{ m *testing.M }

func (c cleanAfter) Run() int {
	code := c.m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	if testHome != "" {
		os.RemoveAll(testHome)
	}
	return code
}

// TestScripts runs the CLI scenarios of testdata/script. Each scenario has
// the flows/ directory of the repository beside its own files. wfsh is
// what users run, the light wfsh and wfsh-full beside it (wfshBinary);
// with -short it is this test binary, the full wfsh in one executable.
func TestScripts(t *testing.T) {
	flows, err := filepath.Abs("../../flows")
	if err != nil {
		t.Fatal(err)
	}
	bin := ""
	if !testing.Short() {
		bin = filepath.Dir(wfshBinary(t))
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			if bin != "" {
				env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			}
			return os.Symlink(flows, filepath.Join(env.WorkDir, "flows"))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"scrub": scrub,
			"exits": exits,
		},
	})
}

var scrubbers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}\]`), "[TIME]"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "RUNID"},
	{regexp.MustCompile(`"time":"[^"]+"`), `"time":"TIME"`},
	{regexp.MustCompile(`\d+(\.\d+)?(ns|µs|ms|s)\b`), "DURATION"},
	{regexp.MustCompile(`\$WORK`), "$$WORK"},
}

// scrub FILE OUT writes FILE (or stdout/stderr) to OUT with times, run ids
// and durations replaced, so that the output can be compared with cmp.
func scrub(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: scrub stdout|stderr|FILE OUT")
	}
	s := ts.ReadFile(args[0])
	for _, sc := range scrubbers {
		s = sc.re.ReplaceAllString(s, sc.with)
	}
	if err := os.WriteFile(ts.MkAbs(args[1]), []byte(s), 0o644); err != nil {
		ts.Fatalf("%v", err)
	}
}

// exits CODE PROG ARGS... runs PROG and checks its exit status; its output
// is kept for stdout and stderr, as with exec.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
