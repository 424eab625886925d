//go:build unix

package sdk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// socketPair returns both ends of a Unix socketpair, as wfsh makes one.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		conns[i], err = net.FileConn(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conns[i].Close() })
	}
	return conns[0], conns[1]
}

// TestOverLane runs the call tests again with the calls on a calls lane.
func TestOverLane(t *testing.T) {
	overLane = true
	t.Cleanup(func() { overLane = false })
	for name, test := range map[string]func(*testing.T){
		"binding":        TestCallBinding,
		"log order":      TestCallLogOrder,
		"streams logs":   TestCallStreamsLogs,
		"errors":         TestCallErrors,
		"cancel":         TestCallCancel,
		"concurrent":     TestCallConcurrent,
		"log concurrent": TestCallLogConcurrent,
		"log after":      TestCallLogAfterReturn,
		"cancel one":     TestSessionCancelOne,
		"chunked":        TestChunkedResults,
		"chunked fails":  TestChunkedStreamFails,
		"chunked cancel": TestChunkedStreamCancel,
		"chunked args":   TestChunkedArgs,
		"args cancelled": TestChunkedArgsCancelled,
	} {
		t.Run(name, test)
	}
}

// A lane that breaks fails the calls in flight with ErrConnection, and
// the later ones too: it is not reopened.
func TestLaneBroken(t *testing.T) {
	ours, theirs := socketPair(t)
	c := NewClient(nil)
	c.UseLane(ours)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(testCtx(t), &pb.CallRequest{Function: "x"}, nil)
		errc <- err
	}()
	// Read the call's frame, then hang up as a crashing plugin would.
	fr := newFrames[*pb.SessionEvent](theirs, func() *pb.SessionRequest { return new(pb.SessionRequest) })
	if req, err := fr.Recv(); err != nil || req.GetCall().GetFunction() != "x" {
		t.Fatalf("plugin side read %v, %v", req, err)
	}
	_ = theirs.Close()
	if err := <-errc; !errors.Is(err, ErrConnection) {
		t.Errorf("call in flight: %v, want ErrConnection", err)
	}
	if _, err := c.Call(testCtx(t), &pb.CallRequest{Function: "x"}, nil); !errors.Is(err, ErrConnection) {
		t.Errorf("later call: %v, want ErrConnection", err)
	}
}

func TestFrames(t *testing.T) {
	a, b := socketPair(t)
	out := newFrames[*pb.SessionRequest](a, func() *pb.SessionEvent { return new(pb.SessionEvent) })
	in := newFrames[*pb.SessionEvent](b, func() *pb.SessionRequest { return new(pb.SessionRequest) })
	big := strings.Repeat("x", 3<<20) // over the reused buffers' size
	msgs := []*pb.SessionRequest{
		{Id: 1, Kind: &pb.SessionRequest_Call{Call: &pb.CallRequest{Function: "f", TaskRun: "t"}}},
		{Id: 2, Kind: &pb.SessionRequest_Cancel{Cancel: true}},
		{Id: 3, Kind: &pb.SessionRequest_Call{Call: &pb.CallRequest{Function: big}}},
		{Id: 4},
	}
	go func() {
		for _, m := range msgs {
			if err := out.Send(m); err != nil {
				t.Errorf("Send: %v", err)
			}
		}
	}()
	for _, want := range msgs {
		got, err := in.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if got.GetId() != want.GetId() || got.GetCall().GetFunction() != want.GetCall().GetFunction() ||
			got.GetCancel() != want.GetCancel() {
			t.Errorf("frame %d came back as id %d", want.GetId(), got.GetId())
		}
	}
}

func TestFramesBad(t *testing.T) {
	for name, raw := range map[string][]byte{
		"too long":  binary.AppendUvarint(nil, maxFrame+1),
		"truncated": append(binary.AppendUvarint(nil, 10), 1, 2, 3),
		"not proto": append(binary.AppendUvarint(nil, 2), 0xff, 0xff),
	} {
		t.Run(name, func(t *testing.T) {
			a, b := socketPair(t)
			in := newFrames[*pb.SessionEvent](b, func() *pb.SessionRequest { return new(pb.SessionRequest) })
			go func() {
				_, _ = io.Copy(a, bytes.NewReader(raw))
				_ = a.Close()
			}()
			if m, err := in.Recv(); err == nil {
				t.Errorf("Recv of %x = %v, want an error", raw, m)
			}
		})
	}
}

// TestShutdownWaitsForCalls: a stopping plugin cancels the calls still
// running and waits for them to return (a shell command's process group is
// killed on the way), up to a bound for a function that ignores its ctx.
func TestShutdownWaitsForCalls(t *testing.T) {
	started := make(chan string, 2)
	var cleaned atomic.Bool
	s := newServer(&Plugin{Name: "slow", Functions: []Function{
		{Name: "cleans_up", Run: func(ctx context.Context, c *Call) (any, error) {
			started <- "cleans_up"
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // killing a process group, waiting for it
			cleaned.Store(true)
			return nil, ctx.Err()
		}},
		{Name: "ignores_ctx", Run: func(ctx context.Context, c *Call) (any, error) {
			started <- "ignores_ctx"
			time.Sleep(time.Hour)
			return nil, nil
		}},
	}})
	ours, theirs := socketPair(t)
	go serveLane(s, theirs)
	c := NewClient(nil)
	c.UseLane(ours)
	go func() { _, _ = c.Call(context.Background(), &pb.CallRequest{Function: "cleans_up"}, nil) }()
	<-started
	if !s.shutdown(5 * time.Second) {
		t.Fatal("shutdown gave up on a call that honours its ctx")
	}
	if !cleaned.Load() {
		t.Error("shutdown returned before the cancelled call had cleaned up")
	}

	go func() { _, _ = c.Call(context.Background(), &pb.CallRequest{Function: "ignores_ctx"}, nil) }()
	<-started
	begin := time.Now()
	if s.shutdown(200 * time.Millisecond) {
		t.Error("shutdown says a call that ignores its ctx ended")
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("shutdown waited %v, bound 200ms", d)
	}
}
