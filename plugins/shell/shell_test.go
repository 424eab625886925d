//go:build unix

package shell

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"

	"github.com/hashicorp/go-hclog"

	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// TestMain lets the test binary serve @shell when the host starts it as a
// plugin (go-plugin sets the handshake cookie), so that the tests that need
// the log stream go through the real protocol without building wfsh.
func TestMain(m *testing.M) {
	if os.Getenv(sdk.Handshake.MagicCookieKey) == sdk.Handshake.MagicCookieValue {
		sdk.Serve(Plugin())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runFn calls @shell's run in-process through its sdk.Function, with the
// defaults of the parameters it is not given, as the SDK's server would.
// sdk.Call's log sink is unexported, so lines logged here go nowhere; the
// tests of streaming go through a plugin process (callPlugin).
func runFn(t *testing.T, ctx context.Context, given map[string]any) (any, error) {
	t.Helper()
	fn := function(t)
	args := map[string]any{}
	for _, p := range fn.Params {
		if !p.Required {
			args[p.Name] = p.Default
		}
	}
	maps.Copy(args, given)
	return fn.Run(ctx, &sdk.Call{Args: args, TaskRun: "t", FlowRun: "test"})
}

func function(t *testing.T) sdk.Function {
	t.Helper()
	p := Plugin()
	if len(p.Functions) != 1 || p.Functions[0].Name != "run" {
		t.Fatalf("@shell exports %d functions, want just run", len(p.Functions))
	}
	return p.Functions[0]
}

func TestDeclaration(t *testing.T) {
	p := Plugin()
	if p.Name != "shell" {
		t.Errorf("name %q, want shell", p.Name)
	}
	var names []string
	for _, prm := range function(t).Params {
		names = append(names, prm.Name)
	}
	if want := []string{"command", "env", "cwd", "return_all", "stream_output"}; !slices.Equal(names, want) {
		t.Errorf("run's parameters are %v, want %v", names, want)
	}
	if len(p.Tasks) != 1 || p.Tasks[0].Name != "shell_task" || p.Tasks[0].Function != "run" {
		t.Errorf("task constructors %+v, want shell_task calling run", p.Tasks)
	}
}

func TestLastLine(t *testing.T) {
	for _, tc := range []struct {
		command string
		want    any
	}{
		{"echo one; echo two; echo three", "three"},
		{"printf 'one\\ntwo'", "two"}, // no final newline
		{"echo only >&2", nil},        // nothing on stdout: None
		{"true", nil},
	} {
		got, err := runFn(t, t.Context(), map[string]any{"command": tc.command})
		if err != nil {
			t.Errorf("%q: %v", tc.command, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q returned %#v, want %#v", tc.command, got, tc.want)
		}
	}
}

func TestReturnAll(t *testing.T) {
	got, err := runFn(t, t.Context(), map[string]any{"command": "echo one; echo two >&2; echo; echo three", "return_all": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"one", "", "three"}
	if lines, ok := got.([]string); !ok || !slices.Equal(lines, want) {
		t.Errorf("returned %#v, want %#v", got, want)
	}
	// Every line crosses the protocol as a list of strings.
	v, err := sdk.Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.GetListValue().GetItems()); n != 3 {
		t.Errorf("encoded as %v, want a list of 3", v)
	}
}

// TestExitCode: a non-zero exit fails with the exit code and the last 20
// lines of stderr, and nothing else.
func TestExitCode(t *testing.T) {
	_, err := runFn(t, t.Context(), map[string]any{
		"command": "echo out; for i in $(seq 30); do echo \"err $i\" >&2; done; exit 7"})
	if err == nil {
		t.Fatal("no error")
	}
	var tail []string
	for i := 11; i <= 30; i++ {
		tail = append(tail, fmt.Sprintf("err %d", i))
	}
	want := "command failed with exit code 7; stderr:\n" + strings.Join(tail, "\n")
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}

	_, err = runFn(t, t.Context(), map[string]any{"command": "exit 3"})
	if err == nil || err.Error() != "command failed with exit code 3" {
		t.Errorf("exit 3: error %v, want exactly %q", err, "command failed with exit code 3")
	}
}

// TestKilledBySignal: a command killed by a signal says which, rather than
// an exit code of -1.
func TestKilledBySignal(t *testing.T) {
	_, err := runFn(t, t.Context(), map[string]any{"command": "echo dying >&2; kill -TERM $$"})
	want := "command killed by signal 15 (terminated); stderr:\ndying"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestEnv: env is merged over the environment: the parent's variables stay
// visible, the given ones override them, numbers are written as they
// print, and other values are refused.
func TestEnv(t *testing.T) {
	t.Setenv("WFSH_TEST_PARENT", "from-parent")
	t.Setenv("WFSH_TEST_OVERRIDE", "old")
	got, err := runFn(t, t.Context(), map[string]any{
		"command": `echo "$WFSH_TEST_PARENT|$WFSH_TEST_OVERRIDE|$WFSH_TEST_NEW|$WFSH_TEST_INT"`,
		"env":     map[string]any{"WFSH_TEST_OVERRIDE": "new", "WFSH_TEST_NEW": "added", "WFSH_TEST_INT": int64(42)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "from-parent|new|added|42"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Without env, the command sees the parent's environment.
	got, err = runFn(t, t.Context(), map[string]any{"command": `echo "$WFSH_TEST_PARENT"`})
	if err != nil || got != "from-parent" {
		t.Errorf("without env: %v, %v; want from-parent", got, err)
	}
	_, err = runFn(t, t.Context(), map[string]any{"command": "true", "env": []any{"A=1"}})
	if err == nil || !strings.Contains(err.Error(), "env must be a dict") {
		t.Errorf("env as a list: error %v, want one saying env must be a dict", err)
	}
	// Values that are neither strings nor numbers are refused, not guessed.
	for v, kind := range map[any]string{nil: "None", true: "bool"} {
		_, err = runFn(t, t.Context(), map[string]any{"command": "true", "env": map[string]any{"A": v}})
		if want := `run: env["A"] must be a string or a number, got ` + kind; err == nil || err.Error() != want {
			t.Errorf("env value %v: error %v, want %q", v, err, want)
		}
	}
	_, err = runFn(t, t.Context(), map[string]any{"command": "true", "env": map[string]any{"A": []any{int64(1)}}})
	if err == nil || !strings.Contains(err.Error(), "got list") {
		t.Errorf("env value list: error %v", err)
	}
}

func TestCwd(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "here.txt"), []byte("found it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := runFn(t, t.Context(), map[string]any{"command": "cat here.txt", "cwd": dir})
	if err != nil || got != "found it" {
		t.Errorf("cwd %s: %v, %v; want the file in it", dir, got, err)
	}
	// Without cwd, the command runs in the plugin's directory.
	wd, _ := os.Getwd()
	got, err = runFn(t, t.Context(), map[string]any{"command": "pwd -P"})
	if real, _ := filepath.EvalSymlinks(wd); err != nil || got != real {
		t.Errorf("no cwd: %v, %v; want %s", got, err, real)
	}
	missing := filepath.Join(dir, "missing")
	_, err = runFn(t, t.Context(), map[string]any{"command": "true", "cwd": missing})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing cwd: error %v, want one naming %s", err, missing)
	}
}

func TestEmptyCommand(t *testing.T) {
	for _, c := range []any{"", nil} {
		_, err := runFn(t, t.Context(), map[string]any{"command": c})
		if err == nil || err.Error() != "run: command is empty" {
			t.Errorf("command %#v: error %v, want %q", c, err, "run: command is empty")
		}
	}
}

// TestCancelKillsGroup: cancelling the call (the task's timeout, or an
// interrupted run) kills bash and everything it started, background
// children included, and the call returns at once.
func TestCancelKillsGroup(t *testing.T) {
	for _, how := range []string{"cancel", "deadline"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			if how == "deadline" {
				ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
			}
			defer cancel()
			type result struct {
				v   any
				err error
			}
			done := make(chan result, 1)
			go func() {
				v, err := runFn(t, ctx, map[string]any{"command": "sleep 300 & echo $$ $! > pids; echo started; sleep 300; echo never", "cwd": dir})
				done <- result{v, err}
			}()
			pids := waitPids(t, filepath.Join(dir, "pids"))
			t.Cleanup(func() { killGroup(pids[0]) })
			if how == "cancel" {
				cancel()
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the call did not return within 10s of being cancelled")
			}
			if r.err == nil || !strings.HasPrefix(r.err.Error(), "run: command stopped: ") {
				t.Errorf("returned %v, %v; want the error run: command stopped: ...", r.v, r.err)
			}
			checkGone(t, pids)
		})
	}
}

// waitPids waits for the command to write its PIDs (bash's $$, which is
// also its process group, then $!) to path.
func waitPids(t *testing.T, path string) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if f := strings.Fields(string(b)); err == nil && len(f) == 2 && strings.HasSuffix(string(b), "\n") {
			var pids []int
			for _, s := range f {
				n, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("%s: %q", path, b)
				}
				pids = append(pids, n)
			}
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the command did not write %s within 20s", path)
	return nil
}

// checkGone checks that within 5s neither pids nor any member of the
// process group pids[0] is running.
func checkGone(t *testing.T, pids []int) {
	t.Helper()
	proctest.CheckGone(t, pids, 5*time.Second, "the cancel")
}

func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// logLine is one line a call streamed.
type logLine struct {
	level pb.LogLine_Level
	text  string
}

// callPlugin calls run through a plugin process (this test binary, see
// TestMain) as wfsh does, and returns the result and every line streamed.
func callPlugin(t *testing.T, args map[string]any) (any, []logLine, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m := host.NewManager(host.Options{Self: exe, Builtin: []string{"shell"}, Dirs: []string{}}, nil, hclog.Off)
	defer m.Stop()
	req := &pb.CallRequest{Function: "run", TaskRun: "t", FlowRunId: "test"}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		v, err := sdk.Encode(args[k])
		if err != nil {
			t.Fatal(err)
		}
		req.Args = append(req.Args, &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: k}}, Value: v})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var lines []logLine
	v, err := m.Call(ctx, "shell", req, func(l *pb.LogLine) { lines = append(lines, logLine{l.GetLevel(), l.GetText()}) })
	if err != nil {
		return nil, lines, err
	}
	res, err := sdk.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	return res, lines, nil
}

// TestStreamOutput: every stdout line reaches the task's log at INFO and
// every stderr line at WARNING, each stream in order, as the lines are
// written; the value returned is still the last stdout line.
func TestStreamOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a plugin process")
	}
	res, lines, err := callPlugin(t, map[string]any{
		"command": "for i in $(seq 1000); do echo \"out $i\"; echo \"err $i\" >&2; done"})
	if err != nil {
		t.Fatal(err)
	}
	if res != "out 1000" {
		t.Errorf("returned %#v, want the last stdout line", res)
	}
	var out, errs []string
	for _, l := range lines {
		switch {
		case l.level == pb.LogLine_INFO && strings.HasPrefix(l.text, "out "):
			out = append(out, l.text)
		case l.level == pb.LogLine_WARNING && strings.HasPrefix(l.text, "err "):
			errs = append(errs, l.text)
		default:
			t.Errorf("unexpected line %v %q", l.level, l.text)
		}
	}
	for i := range 1000 {
		if i >= len(out) || out[i] != fmt.Sprintf("out %d", i+1) {
			t.Fatalf("stdout lines out of order or missing at %d: got %d lines, %q...", i+1, len(out), out[max(0, min(i, len(out))-1):min(i+2, len(out))])
		}
		if i >= len(errs) || errs[i] != fmt.Sprintf("err %d", i+1) {
			t.Fatalf("stderr lines out of order or missing at %d: got %d lines", i+1, len(errs))
		}
	}
	if len(out) != 1000 || len(errs) != 1000 {
		t.Errorf("%d stdout and %d stderr lines, want 1000 each", len(out), len(errs))
	}

	// Lines written apart in time arrive in the order written, across
	// the two streams.
	_, lines, err = callPlugin(t, map[string]any{
		"command": "echo a; sleep 0.3; echo b >&2; sleep 0.3; echo c; sleep 0.3; echo d >&2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []logLine{{pb.LogLine_INFO, "a"}, {pb.LogLine_WARNING, "b"}, {pb.LogLine_INFO, "c"}, {pb.LogLine_WARNING, "d"}}
	if !slices.Equal(lines, want) {
		t.Errorf("streamed %v, want %v", lines, want)
	}
}

// TestStreamOutputOff: stream_output=False streams nothing, yet returns
// the value, and a failure still carries the stderr tail.
func TestStreamOutputOff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a plugin process")
	}
	res, lines, err := callPlugin(t, map[string]any{"command": "echo one; echo two >&2; echo three", "stream_output": false, "return_all": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 0 {
		t.Errorf("streamed %v, want nothing", lines)
	}
	if got, ok := res.([]any); !ok || !slices.Equal(got, []any{"one", "three"}) {
		t.Errorf("returned %#v, want [one three]", res)
	}
	_, lines, err = callPlugin(t, map[string]any{"command": "echo bad >&2; exit 2", "stream_output": false})
	if len(lines) != 0 {
		t.Errorf("streamed %v, want nothing", lines)
	}
	if want := "command failed with exit code 2; stderr:\nbad"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestLargeOutputFlat runs a command that prints 40 MB: without
// return_all, only its last line is kept, so the heap stays far below
// the output's size while it runs.
func TestLargeOutputFlat(t *testing.T) {
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	got, err := runFn(t, t.Context(), map[string]any{"command": "yes " + strings.Repeat("x", 99) + " | head -n 400000; echo last"})
	close(stop)
	<-sampled
	if err != nil || got != "last" {
		t.Fatalf("returned %#v, %v; want \"last\"", got, err)
	}
	if p := peak.Load(); p > 20<<20 {
		t.Errorf("heap reached %d MB for 40 MB of output, want under 20 MB", p>>20)
	}
}

// TestBackgroundEndsWithCommand: what a command leaves running in the
// background (here with its output elsewhere, so the call does not wait
// for it) is killed when bash exits: nothing outlives its task.
func TestBackgroundEndsWithCommand(t *testing.T) {
	v, err := runFn(t, t.Context(), map[string]any{"command": "sleep 300 >/dev/null 2>&1 & echo $$ $!"})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(fmt.Sprint(v)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("returned %q, want two PIDs", v)
		}
		pids = append(pids, n)
	}
	if len(pids) != 2 {
		t.Fatalf("returned %q, want two PIDs", v)
	}
	t.Cleanup(func() { killGroup(pids[0]) })
	proctest.CheckGone(t, pids, 2*time.Second, "the command exited")
}
