package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// PluginSet is what a go-plugin client needs to talk to a wfsh plugin.
func PluginSet() plugin.PluginSet { return plugin.PluginSet{pluginKey: &grpcPlugin{}} }

// Dispense returns the Client of a started go-plugin client.
func Dispense(c plugin.ClientProtocol) (*Client, error) {
	raw, err := c.Dispense(pluginKey)
	if err != nil {
		return nil, err
	}
	cl, ok := raw.(*Client)
	if !ok {
		return nil, fmt.Errorf("plugin dispensed %T, not a wfsh plugin", raw)
	}
	return cl, nil
}

// Client is the host's side of a plugin connection. Its calls share one
// Session stream, opened on the first call; with a plugin that has no
// Session (built with an older SDK), each call has a stream of its own.
type Client struct {
	rpc pb.PluginClient

	mu        sync.Mutex
	sess      *session // nil until the first call, or after it broke
	noSession bool     // the plugin does not serve Session
	lane      net.Conn // the plugin's calls lane (see UseLane), or nil
	argChunks bool     // the plugin takes large arguments in chunks (Describe says)
}

// NewClient wraps a raw protocol client (for tests over an in-process
// connection).
func NewClient(rpc pb.PluginClient) *Client { return &Client{rpc: rpc} }

// Describe asks the plugin what it exports, and notes whether it takes
// large arguments in chunks.
func (c *Client) Describe(ctx context.Context) (*pb.Description, error) {
	d, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err == nil {
		c.mu.Lock()
		c.argChunks = d.GetArgChunks()
		c.mu.Unlock()
	}
	return d, err
}

// Close ends the session, cancelling the calls in flight in the plugin.
// On a calls lane, later calls fail.
func (c *Client) Close() {
	c.mu.Lock()
	s := c.sess
	c.sess = nil
	lane := c.lane
	c.mu.Unlock()
	if s != nil {
		s.cancel()
	}
	if lane != nil {
		_ = lane.Close()
	}
}

// CallError is an error the plugin function returned (as opposed to a
// broken connection).
type CallError struct{ Msg string }

func (e *CallError) Error() string { return e.Msg }

// Call calls a function, passing each log line to onLog as it arrives, and
// returns the result. Cancelling ctx cancels the call in the plugin; ctx's
// deadline is not sent (the caller enforces it). onLog runs on the
// session's receiving goroutine and must not block for long. Call sets
// req.ResultChunks: a large string or bytes result arrives in chunks and
// is returned whole, held once.
func (c *Client) Call(ctx context.Context, req *pb.CallRequest, onLog func(*pb.LogLine)) (*pb.Value, error) {
	req.ResultChunks = true
	for {
		s, err := c.session()
		if err != nil {
			return nil, err
		}
		if s == nil {
			return c.callStream(ctx, req, onLog)
		}
		v, err := s.call(ctx, req, onLog)
		if errors.Is(err, errNoSession) {
			continue // the plugin is older than Session: c.session now says so
		}
		return v, err
	}
}

// session returns the open session, opening one if needed, or nil when the
// plugin serves no sessions.
func (c *Client) session() (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noSession {
		return nil, nil
	}
	if c.sess != nil && (!c.sess.broken() || c.lane != nil) {
		// A broken lane stays broken: its calls fail with its error.
		return c.sess, nil
	}
	var s *session
	if c.lane != nil {
		lane := c.lane
		s = &session{stream: laneSession(lane), cancel: func() { _ = lane.Close() }, calls: map[uint64]*pending{}, argChunks: c.argChunks}
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := c.rpc.Session(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		s = &session{stream: stream, cancel: cancel, calls: map[uint64]*pending{}, argChunks: c.argChunks}
	}
	go s.receive(func() {
		c.mu.Lock()
		c.noSession = true
		c.mu.Unlock()
	})
	c.sess = s
	return s, nil
}

// callStream makes one call on a stream of its own.
func (c *Client) callStream(ctx context.Context, req *pb.CallRequest, onLog func(*pb.LogLine)) (*pb.Value, error) {
	// gRPC would send ctx's deadline to the plugin, which would enforce it
	// too and might end the call a moment before ctx is done: the call
	// would fail as an error of the plugin, not as the caller's timeout.
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	stream, err := c.rpc.Call(callCtx, req)
	if err != nil {
		return nil, err
	}
	r := &reply{onLog: onLog}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("plugin ended the call without a result")
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, err
		}
		if v, err, done := r.add(ev); done {
			return v, err
		}
	}
}

// errNoSession fails the calls of a session the plugin refused.
var errNoSession = errors.New("plugin serves no sessions")

// sessionStream carries a session's messages: a gRPC Session stream or a
// calls lane.
type sessionStream interface {
	Send(*pb.SessionRequest) error
	Recv() (*pb.SessionEvent, error)
}

// ErrConnection marks the errors of calls that failed because the
// connection to the plugin broke (as opposed to the function's errors and
// to cancellation): the plugin may have crashed.
var ErrConnection = errors.New("connection to the plugin broke")

// session is the host's side of one Session stream: calls are numbered,
// sent on the stream, and answered by the receiving goroutine.
type session struct {
	stream    sessionStream
	cancel    func()
	argChunks bool // send large arguments in chunks

	sendMu sync.Mutex // one Send at a time

	mu    sync.Mutex
	next  uint64
	calls map[uint64]*pending
	err   error // why the stream ended; set once
}

// pending is a call waiting for its result.
type pending struct {
	reply reply
	done  chan struct{}
	v     *pb.Value
	err   error
}

func (s *session) broken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

func (s *session) call(ctx context.Context, req *pb.CallRequest, onLog func(*pb.LogLine)) (*pb.Value, error) {
	p := &pending{reply: reply{onLog: onLog}, done: make(chan struct{})}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.next++
	id := s.next
	s.calls[id] = p
	s.mu.Unlock()

	var big []bigArg
	if s.argChunks {
		req, big = splitArgs(req)
	}
	for _, a := range big {
		if err := s.sendArg(ctx, id, a); err != nil {
			return nil, s.abandon(ctx, id, p, err)
		}
	}
	if err := s.send(&pb.SessionRequest{Id: id, Kind: &pb.SessionRequest_Call{Call: req}}); err != nil {
		// The stream broke: the receiving goroutine fails p with the
		// stream's own error, which says more than Send's io.EOF.
		<-p.done
		return p.v, p.err
	}
	select {
	case <-p.done:
		return p.v, p.err
	case <-ctx.Done():
		s.mu.Lock()
		_, running := s.calls[id]
		delete(s.calls, id)
		s.mu.Unlock()
		if running {
			_ = s.send(&pb.SessionRequest{Id: id, Kind: &pb.SessionRequest_Cancel{Cancel: true}})
		}
		return nil, context.Cause(ctx)
	}
}

// sendArg sends one argument in chunks, giving up when ctx is done.
func (s *session) sendArg(ctx context.Context, id uint64, a bigArg) error {
	for i := 0; i < len(a.data); i += chunkSize {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		c := &pb.ArgChunk{Name: a.name, Data: a.data[i:min(i+chunkSize, len(a.data))]}
		if i == 0 {
			c.Size = int64(len(a.data))
		}
		if err := s.send(&pb.SessionRequest{Id: id, Kind: &pb.SessionRequest_ArgChunk{ArgChunk: c}}); err != nil {
			return err
		}
	}
	return nil
}

// abandon ends call id before its call frame was sent: cancelled (the
// plugin drops the chunks it has), or on a broken stream (the receiving
// goroutine fails p with the stream's own error).
func (s *session) abandon(ctx context.Context, id uint64, p *pending, err error) error {
	if ctx.Err() == nil {
		<-p.done
		return p.err
	}
	s.mu.Lock()
	delete(s.calls, id)
	s.mu.Unlock()
	_ = s.send(&pb.SessionRequest{Id: id, Kind: &pb.SessionRequest_Cancel{Cancel: true}})
	return err
}

func (s *session) send(r *pb.SessionRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(r)
}

// receive delivers events to their calls until the stream ends, then fails
// the calls still waiting with the stream's error. refused runs when the
// plugin does not serve Session at all.
func (s *session) receive(refused func()) {
	for {
		ev, err := s.stream.Recv()
		if err != nil {
			if status.Code(err) == codes.Unimplemented {
				refused()
				err = errNoSession
			} else {
				err = fmt.Errorf("%w: %v", ErrConnection, err)
			}
			s.mu.Lock()
			s.err = err
			calls := s.calls
			s.calls = nil
			s.mu.Unlock()
			for _, p := range calls {
				p.err = err
				close(p.done)
			}
			s.cancel()
			return
		}
		s.mu.Lock()
		p := s.calls[ev.GetId()]
		s.mu.Unlock()
		if p == nil {
			continue // cancelled by the host in the meantime
		}
		v, cerr, done := p.reply.add(ev.GetEvent())
		if !done {
			continue
		}
		s.mu.Lock()
		delete(s.calls, ev.GetId())
		s.mu.Unlock()
		p.v, p.err = v, cerr
		close(p.done)
	}
}
