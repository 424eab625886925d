//go:build unix

package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// These tests drive a Manager in the test process against the faulty test
// plugin, for what the wfsh binary does not show: which process served a
// call, and the errors' types.

func newManager(t *testing.T) (*host.Manager, *proctest.Buffer) {
	t.Helper()
	b := testBinaries(t)
	log := &proctest.Buffer{}
	m := host.NewManager(host.Options{Dirs: []string{b.PluginDir}}, log, hclog.Debug)
	t.Cleanup(m.Stop)
	return m, log
}

func call(ctx context.Context, m *host.Manager, fn string, onLog func(*pb.LogLine), kv ...any) (any, error) {
	req := &pb.CallRequest{Function: fn}
	for i := 0; i < len(kv); i += 2 {
		v, err := sdk.Encode(kv[i+1])
		if err != nil {
			return nil, err
		}
		req.Args = append(req.Args, &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: kv[i].(string)}}, Value: v})
	}
	v, err := m.Call(ctx, "faulty", req, onLog)
	if err != nil {
		return nil, err
	}
	return sdk.Decode(v)
}

func pluginPid(t *testing.T, m *host.Manager) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := call(ctx, m, "pid", nil)
	if err != nil {
		t.Fatalf("pid(): %v", err)
	}
	return int(v.(int64))
}

// TestManagerSharesProcess checks that the plugin starts once and serves
// concurrent calls from one process, Describe included.
func TestManagerSharesProcess(t *testing.T) {
	m, log := newManager(t)
	if strings.Contains(log.String(), "starting plugin") {
		t.Fatal("the plugin started before its first use")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := m.Describe(ctx, "faulty")
	if err != nil || d.GetName() != "faulty" {
		t.Fatalf("Describe: %v, %v", d, err)
	}
	first := pluginPid(t, m)
	var wg sync.WaitGroup
	got := make(chan int, 24)
	for range 24 {
		wg.Go(func() {
			v, err := call(ctx, m, "pid", nil)
			if err != nil {
				t.Errorf("pid(): %v", err)
				return
			}
			got <- int(v.(int64))
		})
	}
	wg.Wait()
	close(got)
	for p := range got {
		if p != first {
			t.Errorf("a call was served by process %d, not %d", p, first)
		}
	}
	if n := strings.Count(log.String(), "starting plugin"); n != 1 {
		t.Errorf("the plugin started %d times:\n%s", n, log)
	}
}

// TestManagerErrors checks the error of each kind of failure: a
// CallError for an error the function returned (the connection is fine),
// and a crash, reported with the plugin's name, exit status and stderr,
// after which the next call starts a new process.
func TestManagerErrors(t *testing.T) {
	m, _ := newManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := call(ctx, m, "fail", nil, "msg", "nope")
	var ce *sdk.CallError
	if !errors.As(err, &ce) || ce.Msg != "nope" {
		t.Errorf("fail: %v (%T), want CallError nope", err, err)
	}

	before := pluginPid(t, m)
	var lines []string
	_, err = call(ctx, m, "crash", func(l *pb.LogLine) { lines = append(lines, l.GetText()) }, "after_lines", 2)
	want := "plugin faulty crashed during crash: exit status 3; last stderr lines:\n  faulty: about to crash\n  faulty: state is corrupt"
	if err == nil || err.Error() != want {
		t.Errorf("crash: %v, want %q", err, want)
	}
	if errors.As(err, &ce) {
		t.Errorf("a crash is a CallError: %v", err)
	}
	t.Logf("log lines that arrived before the crash: %q", lines)
	after := pluginPid(t, m)
	if after == before {
		t.Errorf("the next call was served by the crashed process %d", before)
	}
	if alive(before) {
		t.Errorf("the crashed process %d is still running", before)
	}
}

// TestManagerCancel cancels a call the plugin would never end: the call
// returns at once with an error that wraps the cause, and the plugin
// process is left serving.
func TestManagerCancel(t *testing.T) {
	m, _ := newManager(t)
	before := pluginPid(t, m)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	cause := errors.New("the task timed out")
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := call(ctx, m, "hang", func(l *pb.LogLine) {
			if l.GetText() == "hanging" {
				cancel(cause)
			}
		})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), "call of faulty.hang cancelled") {
			t.Errorf("hang: %v, want it cancelled with %v", err, cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled call did not return")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelling took %v", d)
	}
	if after := pluginPid(t, m); after != before {
		t.Errorf("the plugin process changed after a cancelled call: %d, then %d", before, after)
	}
}

// TestManagerStop checks that Stop ends the plugin processes and that
// calls after it fail instead of starting them again.
func TestManagerStop(t *testing.T) {
	m, _ := newManager(t)
	p := pluginPid(t, m)
	m.Stop()
	if alive(p) {
		t.Errorf("plugin process %d still running after Stop", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.Describe(ctx, "faulty"); err == nil || err.Error() != "plugin faulty: the run is over" {
		t.Errorf("Describe after Stop: %v", err)
	}
}

// TestManagerNotFound checks the error for a plugin that is not there: it
// names the plugin and lists those found.
func TestManagerNotFound(t *testing.T) {
	m, _ := newManager(t)
	_, err := m.Describe(context.Background(), "nosuch")
	want := fmt.Sprintf(`no plugin named "nosuch" (plugins found: faulty, hello); a plugin is an executable %snosuch next to wfsh, in $WFSH_PLUGIN_DIR or on $PATH`, host.Prefix)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestManagerDeadline calls, many times, a function that never returns
// with a context that times out: each call must end as that timeout
// (an error wrapping context.DeadlineExceeded), never as an error of the
// plugin, even though the plugin may notice first.
func TestManagerDeadline(t *testing.T) {
	m, _ := newManager(t)
	pluginPid(t, m) // started
	for i := range 25 {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
		_, err := call(ctx, m, "hang", nil)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "call of faulty.hang cancelled") {
			t.Errorf("call %d: %v, want it cancelled by its deadline", i, err)
		}
	}
}

// TestManagerCallsLane: the plugins of this repository announce a calls
// lane, and the commands @shell runs do not inherit it (nor any other
// socket of the plugin).
func TestManagerCallsLane(t *testing.T) {
	m, _ := newManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := m.Describe(ctx, "faulty")
	if err != nil {
		t.Fatal(err)
	}
	if !d.GetCallsLane() {
		t.Error("the faulty plugin announced no calls lane")
	}

	b := testBinaries(t)
	sh := host.NewManager(host.Options{Self: b.Wfsh, Builtin: []string{"shell"}, Dirs: []string{}}, nil, hclog.Off)
	t.Cleanup(sh.Stop)
	if d, err := sh.Describe(ctx, "shell"); err != nil || !d.GetCallsLane() {
		t.Fatalf("shell: Describe %v, %v; want a calls lane", d, err)
	}
	req := &pb.CallRequest{Function: "run"}
	for k, v := range map[string]any{"command": "ls -l /proc/$$/fd", "return_all": true, "stream_output": false} {
		ev, _ := sdk.Encode(v)
		req.Args = append(req.Args, &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: k}}, Value: ev})
	}
	v, err := sh.Call(ctx, "shell", req, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := sdk.Decode(v)
	out := fmt.Sprint(lines)
	if !strings.Contains(out, " 0 -> ") {
		t.Fatalf("unexpected listing of bash's descriptors: %s", out)
	}
	if strings.Contains(out, "socket:") {
		t.Errorf("bash inherited a socket from the plugin: %s", out)
	}
}
