package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wfsh/wfsh/internal/benchstat"
	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/host/hosttest"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// The benchmarks of docs/performance.md, "Plugins" (`make bench` runs
// them):
//
//	go test -run='^$' -bench='PluginStart|ShellRun' -benchtime=200x ./plugins/host/
//	go test -run='^$' -bench=PluginCall -benchtime=10000x ./plugins/host/
//
// BenchmarkPluginStart starts @shell as wfsh does (`wfsh __plugin shell`),
// from the wfsh binary in $WFSH_BENCH_BIN or one built for the run.
// BenchmarkPluginCall calls a function that returns its argument, served
// by this test binary itself (see init), so that the call's round trip is
// measured and not the function. Each reports the median and 99th
// percentile of its iterations besides the mean (ns/op).

// benchServeEnv, with go-plugin's handshake cookie, makes this test binary
// serve benchPlugin instead of running tests.
const benchServeEnv = "WFSH_BENCH_SERVE"

var benchPlugin = &sdk.Plugin{
	Name:    "bench",
	Version: "0.0.0",
	Functions: []sdk.Function{{
		Name:   "echo",
		Doc:    "Return value unchanged.",
		Params: []sdk.Param{{Name: "value"}},
		Run:    func(_ context.Context, c *sdk.Call) (any, error) { return c.Args["value"], nil },
	}},
}

// benchProcsEnv sets benchPlugin's Procs.
const benchProcsEnv = "WFSH_BENCH_PROCS"

func init() {
	if os.Getenv(benchServeEnv) == "1" && os.Getenv(sdk.Handshake.MagicCookieKey) == sdk.Handshake.MagicCookieValue {
		benchPlugin.Procs, _ = strconv.Atoi(os.Getenv(benchProcsEnv))
		sdk.Serve(benchPlugin)
		os.Exit(0)
	}
}

// benchWfsh returns the wfsh executable: $WFSH_BENCH_BIN, or one built
// into a temporary directory.
func benchWfsh(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("WFSH_BENCH_BIN"); p != "" {
		// A relative path is taken from here (plugins/host), else from
		// the repository's root, where `make bench` runs.
		paths := []string{p}
		if !filepath.IsAbs(p) {
			paths = append(paths, filepath.Join("..", "..", p))
		}
		for _, c := range paths {
			if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
				abs, err := filepath.Abs(c)
				if err != nil {
					b.Fatal(err)
				}
				return abs
			}
		}
		b.Fatalf("WFSH_BENCH_BIN=%s: no such executable", p)
	}
	bin := filepath.Join(b.TempDir(), "wfsh")
	proctest.BuildT(b, map[string]string{bin: "./cmd/wfsh"})
	return bin
}

// BenchmarkPluginStart starts @shell as `wfsh run` does (`wfsh __plugin
// shell`): see hosttest.BenchmarkStart.
func BenchmarkPluginStart(b *testing.B) {
	hosttest.BenchmarkStart(b, host.Options{Self: benchWfsh(b), Builtin: []string{"shell"}, Dirs: []string{}}, "shell")
}

// BenchmarkPluginCall: one op is one call of a trivial function (it
// returns its argument, a short string) through host.Manager: encoding,
// the gRPC stream, binding arguments in the plugin, the result back.
// Run with -benchtime=10000x for the figure of docs/performance.md.
// procs=default is the plugin with Go's default GOMAXPROCS, procs=1 the
// same plugin with sdk.Plugin.Procs = 1.
func BenchmarkPluginCall(b *testing.B) {
	for _, procs := range []string{"default", "1"} {
		b.Run("procs="+procs, func(b *testing.B) {
			if procs == "default" {
				procs = "0"
			}
			b.Setenv(benchProcsEnv, procs)
			benchCall(b)
		})
	}
}

func benchCall(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv(benchServeEnv, "1")
	m := host.NewManager(host.Options{Self: exe, Builtin: []string{"bench"}, Dirs: []string{}}, nil, hclog.Off)
	defer m.Stop()
	ctx := context.Background()
	if _, err := m.Describe(ctx, "bench"); err != nil { // start it, untimed
		b.Fatal(err)
	}
	arg, _ := sdk.Encode("ping")
	req := &pb.CallRequest{Function: "echo", TaskRun: "t", FlowRunId: "bench",
		Args: []*pb.Entry{{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: "value"}}, Value: arg}}}
	var calls benchstat.Durations
	for b.Loop() {
		t0 := time.Now()
		v, err := m.Call(ctx, "bench", req, nil)
		calls.Add(time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if v.GetStringValue() != "ping" {
			b.Fatalf("echo returned %v", v)
		}
	}
	calls.Report(b, "call", time.Microsecond, "µs")
}

// BenchmarkShellRun: one op is one call of @shell's run("true") in a
// plugin already started: bash started in its own process group, its
// output read, the result back. It is what each child of a mapped shell
// task costs beyond the executor (W4 of scripts/benchrun).
func BenchmarkShellRun(b *testing.B) {
	m := host.NewManager(host.Options{Self: benchWfsh(b), Builtin: []string{"shell"}, Dirs: []string{}}, nil, hclog.Off)
	defer m.Stop()
	ctx := context.Background()
	if _, err := m.Describe(ctx, "shell"); err != nil {
		b.Fatal(err)
	}
	cmd, _ := sdk.Encode("true")
	req := &pb.CallRequest{Function: "run", TaskRun: "t", FlowRunId: "bench",
		Args: []*pb.Entry{{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: "command"}}, Value: cmd}}}
	var calls benchstat.Durations
	for b.Loop() {
		t0 := time.Now()
		_, err := m.Call(ctx, "shell", req, nil)
		calls.Add(time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	calls.Report(b, "run", time.Millisecond, "ms")
}

// BenchmarkShellRunParallel: BenchmarkShellRun with calls side by side
// (GOMAXPROCS of them), as a mapped shell task makes them: the commands
// are forked one at a time, from the one thread that lives as long as the
// plugin (for their parent-death signal).
func BenchmarkShellRunParallel(b *testing.B) {
	m := host.NewManager(host.Options{Self: benchWfsh(b), Builtin: []string{"shell"}, Dirs: []string{}}, nil, hclog.Off)
	defer m.Stop()
	ctx := context.Background()
	if _, err := m.Describe(ctx, "shell"); err != nil {
		b.Fatal(err)
	}
	cmd, _ := sdk.Encode("true")
	req := &pb.CallRequest{Function: "run", TaskRun: "t", FlowRunId: "bench",
		Args: []*pb.Entry{{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: "command"}}, Value: cmd}}}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Call(ctx, "shell", req, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
