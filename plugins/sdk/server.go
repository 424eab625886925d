package sdk

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// Serve runs p as a plugin process. It returns only when wfsh stops the
// plugin. Started by hand rather than by wfsh, it says so and exits 1.
func Serve(p *Plugin) {
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a wfsh plugin: wfsh starts it when a flow loads \"@%s\"; `wfsh plugins` lists what it exports\n", os.Args[0], p.Name)
		os.Exit(1)
	}
	setProcs(p.Procs)
	srv := newServer(p)
	if conn, err := pluginLane(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: calls lane: %v (calls go over gRPC)\n", p.Name, err)
	} else if conn != nil {
		srv.lane = true
		go serveLane(srv, conn)
	}
	served := make(chan struct{})
	srv.endOnTerm(served)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginKey: &grpcPlugin{srv: srv}},
		GRPCServer:      newGRPCServer,
		Logger:          hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
	close(served)
	// wfsh stopped the plugin: let the calls still running end, as
	// cancelled, before the process does. A shell command's process group
	// is killed by its call's cancellation; exiting first would leave it
	// running. go-plugin kills the process 2 s after asking it to stop.
	srv.shutdown(shutdownWait)
}

// shutdownWait bounds how long a stopping plugin waits for its cancelled
// calls, below go-plugin's 2 s before it kills the process.
const shutdownWait = 1500 * time.Millisecond

// newGRPCServer is go-plugin's default server without gRPC's 4 MiB limit
// on a received message, so that arguments as large as results can cross
// (the host's side has no limit either).
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(math.MaxInt32))...)
}

// grpcPlugin is the go-plugin glue: the server side serves a Plugin, the
// client side returns a Client.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPluginServer(s, g.srv)
	return nil
}

func (g *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{rpc: pb.NewPluginClient(c)}, nil
}

// server answers Describe and Call for one Plugin.
type server struct {
	pb.UnimplementedPluginServer
	p    *Plugin
	lane bool // serving the calls lane too

	base    context.Context // cancelled at shutdown; nil in tests that never shut down
	stopAll context.CancelFunc
	running inflight
}

func newServer(p *Plugin) *server {
	s := &server{p: p}
	s.base, s.stopAll = context.WithCancel(context.Background())
	return s
}

// track counts a call as running until the returned done is called, and
// cancels it (with cancel) at shutdown.
func (s *server) track(cancel context.CancelFunc) (done func()) {
	s.running.add()
	stop := func() bool { return false }
	if s.base != nil {
		stop = context.AfterFunc(s.base, cancel)
	}
	return func() {
		stop()
		s.running.done()
	}
}

// shutdown cancels every call still running and waits up to d for them to
// return.
func (s *server) shutdown(d time.Duration) bool {
	if s.stopAll != nil {
		s.stopAll()
	}
	return s.running.wait(d)
}

// inflight counts running calls; wait blocks until none is left.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0, if someone waits
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// wait reports whether the count reached 0 within d.
func (f *inflight) wait(d time.Duration) bool {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return true
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.Description, error) {
	d := &pb.Description{Name: s.p.Name, Version: s.p.Version, CallsLane: s.lane, ArgChunks: true}
	for _, f := range s.p.Functions {
		pf := &pb.Function{Name: f.Name, Doc: f.Doc}
		for _, p := range f.Params {
			pp := &pb.Param{Name: p.Name, Doc: p.Doc, Required: p.Required}
			if !p.Required {
				v, err := Encode(p.Default)
				if err != nil {
					return nil, fmt.Errorf("%s: default of %s: %w", f.Name, p.Name, err)
				}
				pp.Default = v
			}
			pf.Params = append(pf.Params, pp)
		}
		d.Functions = append(d.Functions, pf)
	}
	for _, t := range s.p.Tasks {
		d.TaskConstructors = append(d.TaskConstructors, &pb.TaskConstructor{Name: t.Name, Doc: t.Doc, Function: t.Function})
	}
	return d, nil
}

// Call serves one call on a stream of its own.
func (s *server) Call(req *pb.CallRequest, stream pb.Plugin_CallServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer s.track(cancel)()
	return s.call(ctx, req, stream.Send)
}

// Session serves the calls wfsh sends on one gRPC stream.
func (s *server) Session(stream pb.Plugin_SessionServer) error {
	return s.serveSession(stream.Context(), stream.Recv, stream.Send)
}

// serveSession serves the calls received from recv, each in a goroutine of
// its own, sending their events through send, until recv fails (wfsh
// closed the session or went away); then the calls still running are
// cancelled.
func (s *server) serveSession(ctx context.Context, recv func() (*pb.SessionRequest, error), send func(*pb.SessionEvent) error) error {
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	var (
		mu      sync.Mutex // one send at a time; guards running and closed
		running = map[uint64]context.CancelFunc{}
		closed  bool
	)
	defer func() {
		mu.Lock()
		closed = true // a gRPC stream is unusable once its handler returns
		mu.Unlock()
	}()
	partial := map[uint64]argChunks{} // chunked arguments of calls to come
	for {
		req, err := recv()
		if err != nil {
			return nil
		}
		id := req.GetId()
		switch k := req.GetKind().(type) {
		case *pb.SessionRequest_ArgChunk:
			if partial[id] == nil {
				partial[id] = argChunks{}
			}
			partial[id].add(k.ArgChunk)
		case *pb.SessionRequest_Call:
			if chunks := partial[id]; chunks != nil {
				delete(partial, id)
				chunks.fill(k.Call)
			}
			callCtx, cancel := context.WithCancel(ctx)
			mu.Lock()
			running[id] = cancel
			mu.Unlock()
			done := s.track(cancel)
			go func() {
				defer done()
				defer cancel()
				_ = s.call(callCtx, k.Call, func(ev *pb.CallEvent) error {
					mu.Lock()
					defer mu.Unlock()
					if closed {
						return nil
					}
					if isFinal(ev) {
						delete(running, id)
					}
					return send(&pb.SessionEvent{Id: id, Event: ev})
				})
			}()
		case *pb.SessionRequest_Cancel:
			delete(partial, id)
			mu.Lock()
			cancel := running[id]
			delete(running, id)
			mu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
	}
}

// call runs one call, sending its log lines and then its result (maybe in
// chunks) or error through send, one event at a time (a function may log
// from several goroutines). Lines logged after the call ended are dropped.
func (s *server) call(ctx context.Context, req *pb.CallRequest, sendEvent func(*pb.CallEvent) error) error {
	var mu sync.Mutex
	ended := false
	send := func(ev *pb.CallEvent) error {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return nil
		}
		ended = isFinal(ev)
		return sendEvent(ev)
	}
	f := s.function(req.GetFunction())
	if f == nil {
		return send(errorEvent(fmt.Sprintf("plugin %s has no function %q", s.p.Name, req.GetFunction())))
	}
	args, err := bindArgs(f, req.GetArgs())
	if err != nil {
		return send(errorEvent(err.Error()))
	}
	call := &Call{Args: args, TaskRun: req.GetTaskRun(), FlowRun: req.GetFlowRunId(),
		log: func(l Level, text string) {
			_ = send(&pb.CallEvent{Event: &pb.CallEvent_Log{Log: &pb.LogLine{Level: pb.LogLine_Level(l), Text: text}}})
		}}
	v, err := runSafely(ctx, f, call)
	if err != nil {
		closeStream(v)
		return send(errorEvent(err.Error()))
	}
	return sendResult(ctx, f, v, req.GetResultChunks(), send)
}

// closeStream closes the reader of a Stream returned with an error.
func closeStream(v any) {
	var r io.Reader
	switch s := v.(type) {
	case Stream:
		r = s.R
	case *Stream:
		r = s.R
	}
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}

// runSafely turns a panic in a plugin function into an error, so one bad
// call does not take the plugin down for the other tasks.
func runSafely(ctx context.Context, f *Function, c *Call) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s panicked: %v", f.Name, p)
		}
	}()
	return f.Run(ctx, c)
}

func errorEvent(msg string) *pb.CallEvent {
	return &pb.CallEvent{Event: &pb.CallEvent_Error{Error: msg}}
}

func (s *server) function(name string) *Function {
	for i := range s.p.Functions {
		if s.p.Functions[i].Name == name {
			return &s.p.Functions[i]
		}
	}
	return nil
}

// bindArgs checks the arguments against f's parameters and fills in the
// defaults.
func bindArgs(f *Function, given []*pb.Entry) (map[string]any, error) {
	args := make(map[string]any, len(f.Params))
	for _, e := range given {
		name := e.GetKey().GetStringValue()
		p := param(f, name)
		if p == nil {
			return nil, fmt.Errorf("%s: unexpected argument %q (parameters: %s)", f.Name, name, paramNames(f))
		}
		v, err := Decode(e.GetValue())
		if err != nil {
			return nil, fmt.Errorf("%s: argument %s: %w", f.Name, name, err)
		}
		if err := p.checkType(f.Name, v); err != nil {
			return nil, err
		}
		args[name] = v
	}
	for _, p := range f.Params {
		if _, ok := args[p.Name]; ok {
			continue
		}
		if p.Required {
			return nil, fmt.Errorf("%s: missing argument %s", f.Name, p.Name)
		}
		// Through the codec, so that a default has the Go type a given
		// value would have (Default: 10 reaches the function as int64,
		// which Call.Int reads), and each call gets its own copy.
		v, err := Encode(p.Default)
		if err == nil {
			args[p.Name], err = Decode(v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: default of %s: %w", f.Name, p.Name, err)
		}
	}
	return args, nil
}

func param(f *Function, name string) *Param {
	for i := range f.Params {
		if f.Params[i].Name == name {
			return &f.Params[i]
		}
	}
	return nil
}

func paramNames(f *Function) string {
	s := ""
	for i, p := range f.Params {
		if i > 0 {
			s += ", "
		}
		s += p.Name
	}
	return s
}

// setProcs sets the plugin process's GOMAXPROCS to n when n > 0, unless
// the environment sets GOMAXPROCS.
func setProcs(n int) {
	if n <= 0 || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(n)
}
