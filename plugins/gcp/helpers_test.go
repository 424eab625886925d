package gcp

import (
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/hashicorp/go-hclog"

	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// TestMain lets the test binary serve @gcp when the host starts it as a
// plugin (go-plugin sets the handshake cookie), so that tests of the log
// stream and of cancellation go through the real protocol.
func TestMain(m *testing.M) {
	if os.Getenv(sdk.Handshake.MagicCookieKey) == sdk.Handshake.MagicCookieValue {
		sdk.Serve(Plugin())
		os.Exit(0)
	}
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	os.Exit(code)
}

// atExit runs when the tests are done (removing what was built for them).
var atExit []func()

// callFn calls a function of p in-process, with the defaults of the
// parameters it is not given, as the SDK's server would. Its log lines go
// nowhere (sdk.Call's log sink is unexported): the tests of logs go through
// a plugin process (callPlugin).
func callFn(t *testing.T, ctx context.Context, fn string, given map[string]any) (any, error) {
	t.Helper()
	f := findFn(t, fn)
	args := map[string]any{}
	for _, prm := range f.Params {
		if !prm.Required {
			// Through the codec, as the SDK does: Default 0 arrives as
			// int64.
			v, err := sdk.Encode(prm.Default)
			if err != nil {
				t.Fatal(err)
			}
			if args[prm.Name], err = sdk.Decode(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	maps.Copy(args, given)
	v, err := f.Run(ctx, &sdk.Call{Args: args, TaskRun: "t", FlowRun: "test-run"})
	if s, ok := v.(sdk.Stream); ok && err == nil {
		return readStream(s)
	}
	return v, err
}

// readStream reads a Stream result to its end, as the SDK does for a
// caller, and returns the value wfsh would get.
func readStream(s sdk.Stream) (any, error) {
	if c, ok := s.R.(io.Closer); ok {
		defer c.Close()
	}
	b, err := io.ReadAll(s.R)
	if err != nil {
		return nil, err
	}
	if s.Text {
		return string(b), nil
	}
	return b, nil
}

// testPlugin is one plugin (one set of clients) for the in-process calls
// of a test binary, as in a plugin process.
var testPlugin = Plugin()

func findFn(t *testing.T, name string) sdk.Function {
	t.Helper()
	for _, f := range testPlugin.Functions {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("@gcp has no function %s", name)
	return sdk.Function{}
}

type logLine struct {
	level pb.LogLine_Level
	text  string
}

// callPlugin calls fn through a plugin process (this test binary, found as
// wfsh-plugin-gcp) and the real host, returning the result and the log
// lines streamed back.
func callPlugin(t *testing.T, ctx context.Context, fn string, args map[string]any) (any, []logLine, error) {
	t.Helper()
	m := pluginManager(t)
	req := &pb.CallRequest{Function: fn, TaskRun: "load_trips", FlowRunId: "test-run"}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		v, err := sdk.Encode(args[k])
		if err != nil {
			t.Fatal(err)
		}
		req.Args = append(req.Args, &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: k}}, Value: v})
	}
	var lines []logLine
	v, err := m.Call(ctx, "gcp", req, func(l *pb.LogLine) { lines = append(lines, logLine{l.GetLevel(), l.GetText()}) })
	if err != nil {
		return nil, lines, err
	}
	res, err := sdk.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	return res, lines, nil
}

// pluginManager returns a host that finds this test binary as
// wfsh-plugin-gcp; the plugin process inherits the test's environment.
func pluginManager(t *testing.T) *host.Manager {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a plugin process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "wfsh-plugin-gcp")); err != nil {
		t.Fatal(err)
	}
	m := host.NewManager(host.Options{Dirs: []string{dir}}, nil, hclog.Off)
	t.Cleanup(m.Stop)
	return m
}

// gcsServer is fake-gcs-server and its request log.
type gcsServer struct {
	*fakestorage.Server
	requests *testWriter
}

// fakeGCS starts fake-gcs-server in-process on a real TCP listener on
// 127.0.0.1, with an in-memory backend.
func fakeGCS(t *testing.T, objects ...fakestorage.Object) gcsServer {
	t.Helper()
	w := &testWriter{t: t}
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:         "http",
		Host:           "127.0.0.1",
		PublicHost:     "127.0.0.1", // reads go to the server itself, not storage.googleapis.com
		InitialObjects: objects,
		Writer:         w,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return gcsServer{srv, w}
}

// testWriter logs fake-gcs-server's request log into the test's, and
// keeps it for the tests that look at the requests.
type testWriter struct {
	t   *testing.T
	mu  sync.Mutex
	log strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("fake-gcs-server: %s", p)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(p)
}

func (w *testWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
