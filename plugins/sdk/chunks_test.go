package sdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// pattern returns n bytes that differ from one chunk to the next, so that
// a chunk lost, repeated or reordered shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i/7+i/chunkSize)%36]
	}
	return b
}

// patternReader reads pattern(n) in reads of at most step bytes, logging a
// line after the first chunk's worth, and notes that it was closed.
type patternReader struct {
	r       *bytes.Reader
	step    int
	call    *Call
	logged  bool
	failAt  int64 // fail with failErr once this many bytes are read (0: never)
	failErr error
	read    int64
	closed  *atomic.Bool
}

var errFire = errors.New("disk on fire")

func (p *patternReader) Read(b []byte) (int, error) {
	if p.failAt > 0 && p.read >= p.failAt {
		return 0, p.failErr
	}
	n, err := p.r.Read(b[:min(len(b), p.step)])
	p.read += int64(n)
	if !p.logged && p.read > chunkSize {
		p.logged = true
		p.call.Logf("past the first chunk")
	}
	return n, err
}

func (p *patternReader) Close() error {
	p.closed.Store(true)
	return nil
}

// endless never ends: a download the caller gives up on.
type endless struct {
	started chan struct{}
	n       int
	closed  chan struct{}
}

func (e *endless) Read(b []byte) (int, error) {
	e.n += len(b)
	if e.n > 2*chunkSize && e.started != nil {
		close(e.started)
		e.started = nil
	}
	time.Sleep(time.Millisecond)
	return len(b), nil
}

func (e *endless) Close() error { close(e.closed); return nil }

// blobs is a plugin whose results are large.
func blobs(closed *atomic.Bool, endlessReader *endless) *Plugin {
	sizeParams := []Param{{Name: "n", Required: true}, {Name: "size", Default: 0}, {Name: "text", Default: true}, {Name: "fail_at", Default: 0}, {Name: "truncated", Default: false}}
	return &Plugin{Name: "blobs", Functions: []Function{
		{Name: "text", Params: sizeParams, Run: func(_ context.Context, c *Call) (any, error) {
			return string(pattern(int(c.Int("n")))), nil
		}},
		{Name: "bytes", Params: sizeParams, Run: func(_ context.Context, c *Call) (any, error) {
			return pattern(int(c.Int("n"))), nil
		}},
		{Name: "stream", Params: sizeParams, Run: func(_ context.Context, c *Call) (any, error) {
			r := &patternReader{r: bytes.NewReader(pattern(int(c.Int("n")))), step: 300 << 10, call: c, failAt: c.Int("fail_at"), failErr: errFire, closed: closed}
			if c.Bool("truncated") {
				r.failErr = io.ErrUnexpectedEOF
			}
			return Stream{R: r, Size: c.Int("size"), Text: c.Bool("text")}, nil
		}},
		{Name: "stream_and_fail", Params: sizeParams, Run: func(_ context.Context, c *Call) (any, error) {
			r := &patternReader{r: bytes.NewReader(nil), closed: closed}
			return &Stream{R: r}, errors.New("gave up before streaming")
		}},
		{Name: "endless", Run: func(_ context.Context, c *Call) (any, error) {
			return Stream{R: endlessReader}, nil
		}},
	}}
}

// TestChunkedResults: strings, bytes and streams of every size around a
// chunk's come back whole and unchanged, log lines sent while a stream
// runs arrive, and the stream's reader is closed.
func TestChunkedResults(t *testing.T) {
	var closed atomic.Bool
	c := serveInProcess(t, blobs(&closed, nil))
	testChunkedResults(t, c, &closed)
}

// TestChunkedResultsWithoutSession: the same on per-call streams.
func TestChunkedResultsWithoutSession(t *testing.T) {
	var closed atomic.Bool
	c := dialBufconn(t, noSessionServer{&server{p: blobs(&closed, nil)}})
	testChunkedResults(t, c, &closed)
}

func testChunkedResults(t *testing.T, c *Client, closed *atomic.Bool) {
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + chunkSize/2} {
		want := pattern(n)
		for _, tc := range []struct {
			fn   string
			text bool
			size int
		}{
			{"text", true, 0},
			{"bytes", false, 0},
			{"stream", true, 0},
			{"stream", false, n},
			{"stream", true, n / 2}, // a size too small: the rest still comes
		} {
			closed.Store(false)
			var lines []string
			v, err := c.Call(testCtx(t), &pb.CallRequest{Function: tc.fn, Args: args("n", n, "size", tc.size, "text", tc.text)},
				func(l *pb.LogLine) { lines = append(lines, l.GetText()) })
			if err != nil {
				t.Fatalf("%s of %d bytes (size %d): %v", tc.fn, n, tc.size, err)
			}
			got := decoded(t, v)
			var b []byte
			switch g := got.(type) {
			case string:
				if !tc.text {
					t.Errorf("%s of %d bytes: got a string, want bytes", tc.fn, n)
				}
				b = []byte(g)
			case []byte:
				if tc.text {
					t.Errorf("%s of %d bytes: got bytes, want a string", tc.fn, n)
				}
				b = g
			default:
				t.Fatalf("%s of %d bytes: got a %T", tc.fn, n, got)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("%s of %d bytes (size %d): got %d bytes that differ from what was sent", tc.fn, n, tc.size, len(b))
			}
			if tc.fn == "stream" {
				if !closed.Load() {
					t.Errorf("stream of %d bytes: the reader was not closed", n)
				}
				wantLines := 0
				if n > chunkSize {
					wantLines = 1
				}
				if len(lines) != wantLines {
					t.Errorf("stream of %d bytes: log lines %q, want %d", n, lines, wantLines)
				}
			}
		}
	}
}

// TestChunkedStreamFails: a stream that fails part way fails the call with
// its error, drops what was sent, and closes the reader; so does a function
// that returns a Stream with an error.
func TestChunkedStreamFails(t *testing.T) {
	var closed atomic.Bool
	c := serveInProcess(t, blobs(&closed, nil))
	_, err := c.Call(testCtx(t), &pb.CallRequest{Function: "stream", Args: args("n", 4*chunkSize, "fail_at", 2*chunkSize)}, nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Msg != errFire.Error() {
		t.Errorf("stream failing part way: err = %v, want the reader's %q", err, errFire)
	}
	if !closed.Load() {
		t.Error("the failed stream's reader was not closed")
	}
	// A source cut short (a dropped connection) fails too: it is not
	// the end of the result.
	_, err = c.Call(testCtx(t), &pb.CallRequest{Function: "stream", Args: args("n", 4*chunkSize, "fail_at", chunkSize+5, "truncated", true)}, nil)
	if !errors.As(err, &ce) || ce.Msg != io.ErrUnexpectedEOF.Error() {
		t.Errorf("stream cut short: err = %v, want %q", err, io.ErrUnexpectedEOF)
	}
	closed.Store(false)
	_, err = c.Call(testCtx(t), &pb.CallRequest{Function: "stream_and_fail", Args: args("n", 1)}, nil)
	if !errors.As(err, &ce) || ce.Msg != "gave up before streaming" {
		t.Errorf("Stream returned with an error: err = %v", err)
	}
	if !closed.Load() {
		t.Error("a Stream returned with an error was not closed")
	}
}

// TestChunkedStreamCancel: cancelling a call while its result streams
// stops the stream in the plugin and closes its reader.
func TestChunkedStreamCancel(t *testing.T) {
	e := &endless{started: make(chan struct{}), closed: make(chan struct{})}
	c := serveInProcess(t, blobs(new(atomic.Bool), e))
	started := e.started
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, &pb.CallRequest{Function: "endless"}, nil)
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("the stream did not start")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: err = %v", err)
	}
	select {
	case <-e.closed:
	case <-time.After(wait):
		t.Fatal("the plugin went on streaming after the call was cancelled")
	}
}

// TestChunksOnTheWire: what the plugin sends for a large result: chunks of
// at most chunkSize, the size on the first, then an empty value of the
// result's kind; and one message to a caller that takes no chunks.
func TestChunksOnTheWire(t *testing.T) {
	var closed atomic.Bool
	s := &server{p: blobs(&closed, nil)}
	n := 2*chunkSize + 10
	for _, fn := range []string{"text", "bytes", "stream"} {
		for _, chunks := range []bool{true, false} {
			var events []*pb.CallEvent
			req := &pb.CallRequest{Function: fn, Args: args("n", n, "size", n, "text", fn != "bytes"), ResultChunks: chunks}
			if err := s.call(testCtx(t), req, func(ev *pb.CallEvent) error { events = append(events, ev); return nil }); err != nil {
				t.Fatal(err)
			}
			var got []byte
			var res *pb.Value
			for i, ev := range events {
				switch e := ev.GetEvent().(type) {
				case *pb.CallEvent_Chunk:
					if len(e.Chunk.GetData()) > chunkSize {
						t.Errorf("%s: a chunk of %d bytes, over %d", fn, len(e.Chunk.GetData()), chunkSize)
					}
					if wantSize := map[bool]int64{true: int64(n), false: 0}[len(got) == 0]; e.Chunk.GetSize() != wantSize {
						t.Errorf("%s: chunk %d announces size %d, want %d", fn, i, e.Chunk.GetSize(), wantSize)
					}
					got = append(got, e.Chunk.GetData()...)
				case *pb.CallEvent_Result:
					res = e.Result
				case *pb.CallEvent_Log:
				default:
					t.Errorf("%s: event %T", fn, e)
				}
			}
			if res == nil {
				t.Fatalf("%s (chunks %v): no result event", fn, chunks)
			}
			if chunks {
				if !bytes.Equal(got, pattern(n)) {
					t.Errorf("%s: the chunks make %d bytes that differ from the result", fn, len(got))
				}
				if v := decoded(t, res); v != "" && !bytes.Equal(v.([]byte), nil) {
					t.Errorf("%s: the result after chunks is %v, want an empty value", fn, v)
				}
				continue
			}
			if len(got) != 0 {
				t.Errorf("%s: %d bytes of chunks to a caller that takes none", fn, len(got))
			}
			var whole []byte
			switch v := decoded(t, res).(type) {
			case string:
				whole = []byte(v)
			case []byte:
				whole = v
			}
			if !bytes.Equal(whole, pattern(n)) {
				t.Errorf("%s without chunks: the result differs", fn)
			}
		}
	}
}

// TestReplyBadChunks: chunks ending in a result that is not a string or
// bytes fail the call; a huge announced size is not allocated.
func TestReplyBadChunks(t *testing.T) {
	r := &reply{}
	chunk := func(data string, size int64) *pb.CallEvent {
		return &pb.CallEvent{Event: &pb.CallEvent_Chunk{Chunk: &pb.Chunk{Data: []byte(data), Size: size}}}
	}
	if _, _, done := r.add(chunk("abc", 1<<62)); done {
		t.Fatal("a chunk ended the call")
	}
	if cap(r.data) > 1<<20 {
		t.Errorf("a bogus announced size allocated %d bytes", cap(r.data))
	}
	_, err, done := r.add(&pb.CallEvent{Event: &pb.CallEvent_Result{Result: &pb.Value{Kind: &pb.Value_IntValue{IntValue: 1}}}})
	if !done || err == nil || !strings.Contains(err.Error(), "chunks for a result of kind") {
		t.Errorf("chunks then an int: done %v, err %v", done, err)
	}
}

// TestChunkedArgs: large string and bytes arguments cross in chunks to a
// plugin that takes them (every Go plugin: Describe says so) and arrive
// whole and of their kind; small ones and other values go as they are.
func TestChunkedArgs(t *testing.T) {
	c := serveInProcess(t, greeter())
	d, err := c.Describe(testCtx(t))
	if err != nil || !d.GetArgChunks() {
		t.Fatalf("Describe: arg_chunks %v, %v", d.GetArgChunks(), err)
	}
	for _, n := range []int{0, chunkSize, chunkSize + 1, 3*chunkSize + 7} {
		text := string(pattern(n))
		blob := pattern(n)
		v, err := c.Call(testCtx(t), &pb.CallRequest{Function: "echo", Args: args("value", text)}, nil)
		if err != nil {
			t.Fatalf("echo of a %d-byte string: %v", n, err)
		}
		if got, _ := decoded(t, v).(string); got != text {
			t.Errorf("echo of a %d-byte string: got %T of %d bytes that differ", n, decoded(t, v), len(got))
		}
		v, err = c.Call(testCtx(t), &pb.CallRequest{Function: "echo", Args: args("value", blob)}, nil)
		if err != nil {
			t.Fatalf("echo of %d bytes: %v", n, err)
		}
		if got, _ := decoded(t, v).([]byte); !bytes.Equal(got, blob) {
			t.Errorf("echo of %d bytes: got %T of %d bytes that differ", n, decoded(t, v), len(got))
		}
	}
}

// TestSplitArgs: what the host sends for a call with large arguments: the
// call with empty values of their kinds, the arguments apart; the caller's
// request unchanged. The plugin puts them back.
func TestSplitArgs(t *testing.T) {
	big, blob := string(pattern(chunkSize+1)), pattern(2*chunkSize)
	req := &pb.CallRequest{Function: "f", Args: args("a", "small", "b", big, "c", int64(7), "d", blob), TaskRun: "t", FlowRunId: "r", ResultChunks: true}
	sent, parts := splitArgs(req)
	if len(parts) != 2 || parts[0].name != "b" || string(parts[0].data) != big || parts[1].name != "d" || !bytes.Equal(parts[1].data, blob) {
		t.Fatalf("split off %d arguments", len(parts))
	}
	if sent == req || sent.GetFunction() != "f" || sent.GetTaskRun() != "t" || sent.GetFlowRunId() != "r" || !sent.GetResultChunks() {
		t.Errorf("the call sent lost its fields: %v", sent)
	}
	if got := decoded(t, sent.GetArgs()[1].GetValue()); got != "" {
		t.Errorf("b in the call sent: %q, want an empty string", got)
	}
	if got, _ := decoded(t, sent.GetArgs()[3].GetValue()).([]byte); len(got) != 0 {
		t.Errorf("d in the call sent: %v, want empty bytes", got)
	}
	if decoded(t, req.GetArgs()[1].GetValue()) != big {
		t.Error("the caller's request was changed")
	}
	// The plugin's side: chunks in order, then the call.
	got := argChunks{}
	for _, p := range parts {
		for i := 0; i < len(p.data); i += chunkSize {
			got.add(&pb.ArgChunk{Name: p.name, Data: p.data[i:min(i+chunkSize, len(p.data))]})
		}
	}
	got.fill(sent)
	if decoded(t, sent.GetArgs()[1].GetValue()) != big || !bytes.Equal(decoded(t, sent.GetArgs()[3].GetValue()).([]byte), blob) || decoded(t, sent.GetArgs()[0].GetValue()) != "small" {
		t.Error("the plugin did not put the arguments back")
	}
	if small, parts := splitArgs(&pb.CallRequest{Args: args("a", "x")}); parts != nil || len(small.GetArgs()) != 1 {
		t.Error("a call without large arguments was split")
	}
}

// TestChunkedArgsCancelled: a call cancelled before its arguments are sent
// fails with the cancellation, and the plugin never runs it.
func TestChunkedArgsCancelled(t *testing.T) {
	var runs atomic.Int32
	c := serveInProcess(t, &Plugin{Name: "p", Functions: []Function{{Name: "f", Params: []Param{{Name: "data", Required: true}},
		Run: func(context.Context, *Call) (any, error) { runs.Add(1); return nil, nil }}}})
	if _, err := c.Describe(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := c.Call(ctx, &pb.CallRequest{Function: "f", Args: args("data", pattern(3*chunkSize))}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// The session still works, and the cancelled call never ran.
	if _, err := c.Call(testCtx(t), &pb.CallRequest{Function: "f", Args: args("data", "x")}, nil); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the function ran %d times, want once (the second call only)", n)
	}
}
