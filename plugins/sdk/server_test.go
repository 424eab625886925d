package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// serveInProcess serves p over go-plugin's in-process gRPC test
// connection and returns the host's side of it, as Dispense gives it to
// wfsh.
//
// With overLane set (TestOverLane), calls go on a calls lane, a socketpair
// as wfsh makes it, instead.
func serveInProcess(t *testing.T, p *Plugin) *Client {
	t.Helper()
	srv := &server{p: p}
	var lane net.Conn
	if overLane {
		var theirs net.Conn
		lane, theirs = socketPair(t)
		srv.lane = true
		go serveLane(srv, theirs)
	}
	// Closing the client stops the server too (go-plugin's Shutdown call;
	// stopping it here as well would race with that).
	conn, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{pluginKey: &grpcPlugin{srv: srv}})
	t.Cleanup(func() { _ = conn.Close() })
	c, err := Dispense(conn)
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	if lane != nil {
		c.UseLane(lane)
		t.Cleanup(c.Close)
	}
	return c
}

// overLane makes serveInProcess serve calls on a calls lane.
var overLane bool

// wait bounds every blocking step of these tests.
const wait = 10 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func args(kv ...any) []*pb.Entry {
	var out []*pb.Entry
	for i := 0; i < len(kv); i += 2 {
		v, err := Encode(kv[i+1])
		if err != nil {
			panic(err)
		}
		out = append(out, &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: kv[i].(string)}}, Value: v})
	}
	return out
}

func decoded(t *testing.T, v *pb.Value) any {
	t.Helper()
	d, err := Decode(v)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return d
}

// greeter is a plugin with the shapes these tests need.
func greeter() *Plugin {
	return &Plugin{
		Name:    "greeter",
		Version: "2.3.4",
		Functions: []Function{
			{
				Name: "greet", Doc: "Greets.",
				Params: []Param{
					{Name: "who", Required: true, Doc: "whom to greet"},
					{Name: "punctuation", Default: "!"},
					{Name: "times", Default: 1},
					{Name: "extra", Default: nil},
				},
				Run: func(_ context.Context, c *Call) (any, error) {
					c.Logf("greeting %s", c.String("who"))
					s := strings.Repeat("Hello, "+c.String("who")+c.String("punctuation"), int(c.Int("times")))
					return map[string]any{"text": s, "extra": c.Args["extra"], "task": c.TaskRun, "flow": c.FlowRun}, nil
				},
			},
			{
				Name: "echo", Params: []Param{{Name: "value", Required: true}},
				Run: func(_ context.Context, c *Call) (any, error) { return c.Args["value"], nil },
			},
			{
				Name: "fail", Params: []Param{{Name: "msg", Required: true}},
				Run: func(_ context.Context, c *Call) (any, error) {
					c.Logf("about to fail")
					return nil, errors.New(c.String("msg"))
				},
			},
			{
				Name: "explode",
				Run:  func(context.Context, *Call) (any, error) { panic("kaboom") },
			},
			{
				Name: "unencodable",
				Run:  func(context.Context, *Call) (any, error) { return struct{ X int }{1}, nil },
			},
			{
				Name: "log", Params: []Param{{Name: "n", Required: true}},
				Run: func(_ context.Context, c *Call) (any, error) {
					for i := range c.Int("n") {
						c.Log(Level(i%4), fmt.Sprintf("line %d", i))
					}
					return c.Int("n"), nil
				},
			},
		},
		Tasks: []TaskConstructor{{Name: "greet_task", Doc: "A greeting task.", Function: "greet"}},
	}
}

// TestDescribe checks what the host learns of a plugin: functions, their
// parameters with required flags, docs and encoded defaults (None
// included), and task constructors.
func TestDescribe(t *testing.T) {
	c := serveInProcess(t, greeter())
	d, err := c.Describe(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != "greeter" || d.GetVersion() != "2.3.4" {
		t.Errorf("name, version = %q, %q", d.GetName(), d.GetVersion())
	}
	var names []string
	for _, f := range d.GetFunctions() {
		names = append(names, f.GetName())
	}
	if got := strings.Join(names, ","); got != "greet,echo,fail,explode,unencodable,log" {
		t.Errorf("functions = %s", got)
	}
	greet := d.GetFunctions()[0]
	if greet.GetDoc() != "Greets." {
		t.Errorf("doc = %q", greet.GetDoc())
	}
	ps := greet.GetParams()
	if len(ps) != 4 {
		t.Fatalf("params = %v", ps)
	}
	if ps[0].GetName() != "who" || !ps[0].GetRequired() || ps[0].GetDefault() != nil || ps[0].GetDoc() != "whom to greet" {
		t.Errorf("who = %v", ps[0])
	}
	for i, want := range []any{"!", int64(1), nil} {
		p := ps[i+1]
		if p.GetRequired() || p.GetDefault() == nil {
			t.Errorf("%s: required or no default on the wire: %v", p.GetName(), p)
			continue
		}
		if got := decoded(t, p.GetDefault()); got != want {
			t.Errorf("default of %s = %#v, want %#v", p.GetName(), got, want)
		}
	}
	if _, ok := ps[3].GetDefault().GetKind().(*pb.Value_None); !ok {
		t.Errorf("a None default travels as %v, want an explicit None", ps[3].GetDefault())
	}
	tcs := d.GetTaskConstructors()
	if len(tcs) != 1 || tcs[0].GetName() != "greet_task" || tcs[0].GetFunction() != "greet" || tcs[0].GetDoc() != "A greeting task." {
		t.Errorf("task constructors = %v", tcs)
	}
}

// TestDescribeBadDefault checks that a default the protocol cannot carry
// is reported by Describe, naming the function and the parameter.
func TestDescribeBadDefault(t *testing.T) {
	p := &Plugin{Name: "bad", Functions: []Function{{
		Name: "f", Params: []Param{{Name: "opt", Default: []int{1}}},
		Run: func(context.Context, *Call) (any, error) { return nil, nil },
	}}}
	_, err := serveInProcess(t, p).Describe(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "f: default of opt") || !strings.Contains(err.Error(), "[]int") {
		t.Errorf("Describe: %v, want an error about f's default of opt", err)
	}
}

// TestCallBinding checks argument binding in the plugin: defaults fill
// what is not given, given values win, the calling task and flow run reach
// the function, and a missing required argument, an unknown argument or an
// unknown function is an error of the call (a CallError), not of the
// connection.
func TestCallBinding(t *testing.T) {
	c := serveInProcess(t, greeter())
	ctx := testCtx(t)

	v, err := c.Call(ctx, &pb.CallRequest{Function: "greet", Args: args("who", "Ada"), TaskRun: "hi[2]", FlowRunId: "run-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"text": "Hello, Ada!", "extra": nil, "task": "hi[2]", "flow": "run-1"}
	if got := decoded(t, v); !equal(got, want) {
		t.Errorf("greet(who=Ada) = %#v, want %#v", got, want)
	}

	v, err = c.Call(ctx, &pb.CallRequest{Function: "greet", Args: args("times", 2, "who", "Bo", "punctuation", ".", "extra", []any{1})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{"text": "Hello, Bo.Hello, Bo.", "extra": []any{int64(1)}, "task": "", "flow": ""}
	if got := decoded(t, v); !equal(got, want) {
		t.Errorf("greet(all given) = %#v, want %#v", got, want)
	}

	for _, tc := range []struct {
		name string
		req  *pb.CallRequest
		want string
	}{
		{"missing", &pb.CallRequest{Function: "greet", Args: args("punctuation", "?")}, "greet: missing argument who"},
		{"unknown", &pb.CallRequest{Function: "greet", Args: args("who", "x", "whom", "y")}, `greet: unexpected argument "whom" (parameters: who, punctuation, times, extra)`},
		{"no such function", &pb.CallRequest{Function: "nope"}, `plugin greeter has no function "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			_, err := c.Call(ctx, tc.req, func(*pb.LogLine) { called = true })
			var ce *CallError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a *CallError", err, err)
			}
			if ce.Msg != tc.want {
				t.Errorf("error %q, want %q", ce.Msg, tc.want)
			}
			if called {
				t.Error("the function ran (it logged) although binding failed")
			}
		})
	}
}

// TestCallLogOrder checks that log lines reach the host in the order the
// function wrote them, with their levels, and all before the result.
func TestCallLogOrder(t *testing.T) {
	c := serveInProcess(t, greeter())
	const n = 5000
	var got []*pb.LogLine
	v, err := c.Call(testCtx(t), &pb.CallRequest{Function: "log", Args: args("n", n)}, func(l *pb.LogLine) { got = append(got, l) })
	if err != nil {
		t.Fatal(err)
	}
	if r := decoded(t, v); r != int64(n) {
		t.Errorf("result %v", r)
	}
	if len(got) != n {
		t.Fatalf("%d log lines, want %d", len(got), n)
	}
	levels := []pb.LogLine_Level{pb.LogLine_INFO, pb.LogLine_DEBUG, pb.LogLine_WARNING, pb.LogLine_ERROR}
	for i, l := range got {
		if want := fmt.Sprintf("line %d", i); l.GetText() != want || l.GetLevel() != levels[i%4] {
			t.Fatalf("line %d = %v %q, want %v %q", i, l.GetLevel(), l.GetText(), levels[i%4], want)
		}
	}
}

// TestCallStreamsLogs checks that a log line reaches the host while the
// function is still running (streamed, not sent with the result): the
// function waits for the host to have seen its first line.
func TestCallStreamsLogs(t *testing.T) {
	seen := make(chan struct{})
	p := &Plugin{Name: "s", Functions: []Function{{
		Name: "f",
		Run: func(ctx context.Context, c *Call) (any, error) {
			c.Logf("first")
			select {
			case <-seen:
			case <-time.After(wait):
				return nil, errors.New("the host did not see the first line while the call ran")
			}
			c.Log(Warning, "second")
			return "done", nil
		},
	}}}
	var lines []string
	v, err := serveInProcess(t, p).Call(testCtx(t), &pb.CallRequest{Function: "f"}, func(l *pb.LogLine) {
		lines = append(lines, l.GetText())
		if l.GetText() == "first" {
			close(seen)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := decoded(t, v); got != "done" || strings.Join(lines, ",") != "first,second" {
		t.Errorf("result %v, lines %v", got, lines)
	}
}

// TestCallErrors checks the ways a call fails in the plugin: an error
// returned (its log lines still arrive), a panic (an error naming the
// function; the plugin keeps serving), and a result the codec refuses.
func TestCallErrors(t *testing.T) {
	c := serveInProcess(t, greeter())
	ctx := testCtx(t)

	var lines []string
	_, err := c.Call(ctx, &pb.CallRequest{Function: "fail", Args: args("msg", "disk full: /var")}, func(l *pb.LogLine) { lines = append(lines, l.GetText()) })
	var ce *CallError
	if !errors.As(err, &ce) || ce.Msg != "disk full: /var" {
		t.Errorf("fail: %v (%T), want CallError %q", err, err, "disk full: /var")
	}
	if strings.Join(lines, ",") != "about to fail" {
		t.Errorf("fail logged %v", lines)
	}

	_, err = c.Call(ctx, &pb.CallRequest{Function: "explode"}, nil)
	if !errors.As(err, &ce) || ce.Msg != "explode panicked: kaboom" {
		t.Errorf("explode: %v (%T), want CallError %q", err, err, "explode panicked: kaboom")
	}
	// The panic was contained: the plugin still answers.
	if v, err := c.Call(ctx, &pb.CallRequest{Function: "echo", Args: args("value", "still here")}, nil); err != nil || decoded(t, v) != "still here" {
		t.Errorf("echo after a panic: %v, %v", v, err)
	}

	_, err = c.Call(ctx, &pb.CallRequest{Function: "unencodable"}, nil)
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "unencodable returned a value wfsh cannot take") || !strings.Contains(ce.Msg, "struct { X int }") {
		t.Errorf("unencodable: %v", err)
	}
}

// TestCallCancel checks that cancelling the host's context reaches the
// function's ctx, and that a deadline does too; the host sees a
// cancellation, not a CallError.
func TestCallCancel(t *testing.T) {
	saw := make(chan error, 1)
	p := &Plugin{Name: "c", Functions: []Function{{
		Name: "block",
		Run: func(ctx context.Context, c *Call) (any, error) {
			c.Logf("blocking")
			select {
			case <-ctx.Done():
				saw <- ctx.Err()
				return nil, ctx.Err()
			case <-time.After(wait):
				saw <- errors.New("never cancelled")
				return nil, errors.New("never cancelled")
			}
		},
	}}}
	c := serveInProcess(t, p)

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		start := time.Now()
		_, err := c.Call(ctx, &pb.CallRequest{Function: "block"}, func(l *pb.LogLine) {
			if l.GetText() == "blocking" {
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Call: %v, want context.Canceled", err)
		}
		var ce *CallError
		if errors.As(err, &ce) {
			t.Errorf("a cancelled call is a CallError: %v", err)
		}
		if got := <-saw; !errors.Is(got, context.Canceled) {
			t.Errorf("the function's ctx ended with %v, want context.Canceled", got)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("cancelling took %v", d)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Call(ctx, &pb.CallRequest{Function: "block"}, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Call: %v, want context.DeadlineExceeded", err)
		}
		select {
		case got := <-saw:
			if !errors.Is(got, context.DeadlineExceeded) && !errors.Is(got, context.Canceled) {
				t.Errorf("the function's ctx ended with %v", got)
			}
		case <-time.After(wait):
			t.Error("the function's ctx never ended")
		}
	})
}

// TestCallConcurrent runs calls at once over one connection, as the tasks
// of a run share one plugin process.
func TestCallConcurrent(t *testing.T) {
	c := serveInProcess(t, greeter())
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			var lines []string
			v, err := c.Call(ctx, &pb.CallRequest{Function: "greet", Args: args("who", fmt.Sprint(i))}, func(l *pb.LogLine) { lines = append(lines, l.GetText()) })
			if err != nil {
				errs <- err
				return
			}
			d, _ := Decode(v)
			if m, _ := d.(map[string]any); m["text"] != fmt.Sprintf("Hello, %d!", i) || len(lines) != 1 || lines[0] != fmt.Sprintf("greeting %d", i) {
				errs <- fmt.Errorf("call %d: %v, lines %v", i, d, lines)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestLargeValues sends a 10 MiB argument and gets a 10 MiB result back
// through the gRPC server Serve uses (gRPC's default would refuse a
// received message over 4 MiB) and a client configured as go-plugin's.
func TestLargeValues(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	srv := newGRPCServer(nil)
	pb.RegisterPluginServer(srv, &server{p: greeter()})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := NewClient(pb.NewPluginClient(conn))

	big := strings.Repeat("0123456789abcdef", 10<<20/16)
	blob := []byte(big)
	blob[len(blob)-1] = 0
	v, err := c.Call(testCtx(t), &pb.CallRequest{Function: "echo", Args: args("value", []any{big, blob})}, nil)
	if err != nil {
		t.Fatalf("echo of 20 MiB: %v", err)
	}
	got, _ := decoded(t, v).([]any)
	if len(got) != 2 || got[0] != big || string(got[1].([]byte)) != string(blob) {
		t.Error("the large values came back changed")
	}
}

// TestCallLogConcurrent logs from several goroutines of one call at once,
// as a function reading a command's stdout and stderr does: every line
// arrives, each goroutine's in its order.
func TestCallLogConcurrent(t *testing.T) {
	const writers, lines = 8, 300
	p := &Plugin{Name: "c", Functions: []Function{{
		Name: "f",
		Run: func(_ context.Context, c *Call) (any, error) {
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range lines {
						c.Logf("%d %d", w, i)
					}
				})
			}
			wg.Wait()
			return nil, nil
		},
	}}}
	next := make([]int, writers)
	n := 0
	_, err := serveInProcess(t, p).Call(testCtx(t), &pb.CallRequest{Function: "f"}, func(l *pb.LogLine) {
		var w, i int
		if _, err := fmt.Sscanf(l.GetText(), "%d %d", &w, &i); err != nil || w < 0 || w >= writers || i != next[w] {
			t.Errorf("line %q out of order or garbled", l.GetText())
			return
		}
		next[w]++
		n++
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != writers*lines {
		t.Errorf("%d of %d lines arrived", n, writers*lines)
	}
}

// TestCallLogAfterReturn logs from a goroutine that outlives the call:
// the call still ends with its result, the late lines are dropped, and
// the plugin goes on serving.
func TestCallLogAfterReturn(t *testing.T) {
	var late sync.WaitGroup
	p := &Plugin{Name: "late", Functions: []Function{{
		Name: "f",
		Run: func(_ context.Context, c *Call) (any, error) {
			late.Go(func() {
				for i := range 2000 {
					c.Logf("late %d", i)
				}
			})
			return "result", nil
		},
	}}}
	c := serveInProcess(t, p)
	for range 3 {
		v, err := c.Call(testCtx(t), &pb.CallRequest{Function: "f"}, nil)
		if err != nil || decoded(t, v) != "result" {
			t.Fatalf("Call = %v, %v", v, err)
		}
	}
	late.Wait()
}

// noSessionServer is a plugin built before Session existed.
type noSessionServer struct{ *server }

func (noSessionServer) Session(pb.Plugin_SessionServer) error {
	return status.Error(codes.Unimplemented, "method Session not implemented")
}

// dialBufconn serves srv on an in-memory listener and returns a Client.
func dialBufconn(t *testing.T, impl pb.PluginServer) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := newGRPCServer(nil)
	pb.RegisterPluginServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return NewClient(pb.NewPluginClient(conn))
}

// TestCallWithoutSession: a plugin that does not serve Session still
// answers, each call on a stream of its own, logs included.
func TestCallWithoutSession(t *testing.T) {
	c := dialBufconn(t, noSessionServer{&server{p: greeter()}})
	for i := range 3 {
		var lines []string
		v, err := c.Call(testCtx(t), &pb.CallRequest{Function: "greet", Args: args("who", "Ada")},
			func(l *pb.LogLine) { lines = append(lines, l.GetText()) })
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := decoded(t, v).(map[string]any)["text"]; got != "Hello, Ada!" {
			t.Errorf("call %d: text %v", i, got)
		}
		if len(lines) != 1 || lines[0] != "greeting Ada" {
			t.Errorf("call %d: log lines %q", i, lines)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.noSession {
		t.Error("the client did not note that the plugin serves no sessions")
	}
}

// TestSessionCancelOne: cancelling one call of the session cancels that
// call in the plugin and no other.
func TestSessionCancelOne(t *testing.T) {
	release := make(chan struct{})
	ended := make(chan string, 2)
	p := &Plugin{Name: "s", Functions: []Function{{
		Name: "wait", Params: []Param{{Name: "name", Required: true}},
		Run: func(ctx context.Context, c *Call) (any, error) {
			c.Logf("started")
			select {
			case <-ctx.Done():
				ended <- c.String("name") + " cancelled"
				return nil, ctx.Err()
			case <-release:
				ended <- c.String("name") + " released"
				return c.String("name"), nil
			}
		},
	}}}
	c := serveInProcess(t, p)
	ctx := testCtx(t)
	cancelCtx, cancel := context.WithCancel(ctx)
	started := make(chan struct{}, 2)
	onLog := func(*pb.LogLine) { started <- struct{}{} }
	errA := make(chan error, 1)
	go func() {
		_, err := c.Call(cancelCtx, &pb.CallRequest{Function: "wait", Args: args("name", "a")}, onLog)
		errA <- err
	}()
	resB := make(chan *pb.Value, 1)
	go func() {
		v, err := c.Call(ctx, &pb.CallRequest{Function: "wait", Args: args("name", "b")}, onLog)
		if err != nil {
			t.Errorf("call b: %v", err)
		}
		resB <- v
	}()
	<-started
	<-started
	cancel()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("call a: %v, want context.Canceled", err)
	}
	if got := <-ended; got != "a cancelled" {
		t.Errorf("first to end: %q, want a cancelled", got)
	}
	close(release)
	if got := <-ended; got != "b released" {
		t.Errorf("then: %q, want b released", got)
	}
	if v := <-resB; v.GetStringValue() != "b" {
		t.Errorf("call b returned %v", v)
	}
}

// TestSessionClose: closing the client's session cancels the calls in
// flight in the plugin and fails them; the next call opens a new session.
func TestSessionClose(t *testing.T) {
	saw := make(chan error, 1)
	p := &Plugin{Name: "s", Functions: []Function{
		{Name: "block", Run: func(ctx context.Context, c *Call) (any, error) {
			c.Logf("blocking")
			<-ctx.Done()
			saw <- ctx.Err()
			return nil, ctx.Err()
		}},
		{Name: "one", Run: func(context.Context, *Call) (any, error) { return 1, nil }},
	}}
	c := serveInProcess(t, p)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(testCtx(t), &pb.CallRequest{Function: "block"}, func(*pb.LogLine) { c.Close() })
		errc <- err
	}()
	if err := <-errc; err == nil {
		t.Error("a call in flight when the session closed succeeded")
	}
	select {
	case err := <-saw:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the function's ctx ended with %v", err)
		}
	case <-time.After(wait):
		t.Fatal("closing the session did not cancel the call in the plugin")
	}
	v, err := c.Call(testCtx(t), &pb.CallRequest{Function: "one"}, nil)
	if err != nil || v.GetIntValue() != 1 {
		t.Errorf("call after close: %v, %v", v, err)
	}
}
