package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unsafe"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// A string or bytes result longer than chunkSize crosses in chunks of at
// most chunkSize bytes (CallEvent chunk), each its own message: neither
// side holds the result a second time as one serialized message.
const chunkSize = 1 << 20

// Stream is a result a function hands over as a reader rather than as a
// value: the SDK reads R and sends what it reads to wfsh in chunks, so the
// plugin never holds the result whole (a download passes through). wfsh
// receives it as a string when Text is set, bytes otherwise.
//
// Size is the result's length in bytes when known, 0 when not: wfsh then
// allocates it once. An error from R's Read fails the call with that error
// (a function that checks what it streams reports from there). R is
// closed when done if it is an io.Closer, whatever the outcome.
//
// Read runs after the function has returned, still within the call: the
// call's context is cancelled only once the stream ends.
type Stream struct {
	R    io.Reader
	Size int64
	Text bool
}

// isFinal reports whether ev ends its call: a result or an error.
func isFinal(ev *pb.CallEvent) bool {
	switch ev.GetEvent().(type) {
	case *pb.CallEvent_Result, *pb.CallEvent_Error:
		return true
	}
	return false
}

// sendResult sends v, what a function returned, as the call's result: in
// chunks when it is a Stream or a long string or bytes and the caller
// takes chunks, in one message otherwise.
func sendResult(ctx context.Context, f *Function, v any, chunks bool, send func(*pb.CallEvent) error) error {
	switch r := v.(type) {
	case Stream:
		return sendStream(ctx, f, r, chunks, send)
	case *Stream:
		return sendStream(ctx, f, *r, chunks, send)
	case string:
		if chunks && len(r) > chunkSize {
			// The chunks are marshalled, never written: they may
			// share the string's memory.
			return sendChunked(unsafe.Slice(unsafe.StringData(r), len(r)), true, send)
		}
	case []byte:
		if chunks && len(r) > chunkSize {
			return sendChunked(r, false, send)
		}
	}
	res, err := Encode(v)
	if err != nil {
		return send(errorEvent(fmt.Sprintf("%s returned a value wfsh cannot take: %v", f.Name, err)))
	}
	return send(&pb.CallEvent{Event: &pb.CallEvent_Result{Result: res}})
}

// sendChunked sends b in chunks, then the result event that says its kind.
func sendChunked(b []byte, text bool, send func(*pb.CallEvent) error) error {
	for i := 0; i < len(b); i += chunkSize {
		c := &pb.Chunk{Data: b[i:min(i+chunkSize, len(b))]}
		if i == 0 {
			c.Size = int64(len(b))
		}
		if err := send(&pb.CallEvent{Event: &pb.CallEvent_Chunk{Chunk: c}}); err != nil {
			return err
		}
	}
	return send(&pb.CallEvent{Event: &pb.CallEvent_Result{Result: emptyOf(text)}})
}

// sendStream reads s.R to its end and sends it: in chunks as it is read,
// or, to a caller that takes no chunks, whole in one message. The reader
// is closed before the event that ends the call is sent.
func sendStream(ctx context.Context, f *Function, s Stream, chunks bool, send func(*pb.CallEvent) error) error {
	if s.R == nil {
		return send(errorEvent(f.Name + " returned a Stream without a reader"))
	}
	last, err := streamChunks(ctx, f, s, chunks, send)
	if c, ok := s.R.(io.Closer); ok {
		_ = c.Close()
	}
	if err != nil {
		return err
	}
	return send(last)
}

// streamChunks sends s's chunks and returns the event that ends the call:
// its result or error. err is set when sending failed.
func streamChunks(ctx context.Context, f *Function, s Stream, chunks bool, send func(*pb.CallEvent) error) (last *pb.CallEvent, err error) {
	if !chunks {
		b, err := readAll(s.R, s.Size)
		if err != nil {
			return errorEvent(err.Error()), nil
		}
		v := &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: b}}
		if s.Text {
			v = &pb.Value{Kind: &pb.Value_StringValue{StringValue: unsafe.String(unsafe.SliceData(b), len(b))}}
		}
		return &pb.CallEvent{Event: &pb.CallEvent_Result{Result: v}}, nil
	}
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return errorEvent(fmt.Sprintf("%s: %v", f.Name, context.Cause(ctx))), nil
		}
		// A buffer per chunk: a gRPC stream may keep a sent message
		// after Send returns.
		buf := make([]byte, chunkSize)
		n, rerr := fill(s.R, buf)
		if n > 0 {
			c := &pb.Chunk{Data: buf[:n]}
			if first {
				c.Size = max(s.Size, 0)
				first = false
			}
			if err := send(&pb.CallEvent{Event: &pb.CallEvent_Chunk{Chunk: c}}); err != nil {
				return nil, err
			}
		}
		switch {
		case rerr == io.EOF:
			return &pb.CallEvent{Event: &pb.CallEvent_Result{Result: emptyOf(s.Text)}}, nil
		case rerr != nil:
			return errorEvent(rerr.Error()), nil
		}
	}
}

// fill reads r until buf is full (err nil) or r ends (io.EOF) or fails.
// Unlike io.ReadFull, it keeps r's own io.ErrUnexpectedEOF an error: a
// truncated download must fail, not end the result early.
func fill(r io.Reader, buf []byte) (n int, err error) {
	for n < len(buf) {
		var m int
		m, err = r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// emptyOf is the empty string (text) or bytes value that ends chunks.
func emptyOf(text bool) *pb.Value {
	if text {
		return &pb.Value{Kind: &pb.Value_StringValue{}}
	}
	return &pb.Value{Kind: &pb.Value_BytesValue{}}
}

// readAll reads r whole into one buffer sized from size (0: unknown), so
// that the result is held once, not once per doubling of a growing buffer.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	// One byte more, to see EOF without growing.
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			// Longer than announced: go on the slow way.
			rest, err := io.ReadAll(r)
			return append(b, rest...), err
		}
	}
}

// maxAnnounced bounds the size a first chunk may announce: a bogus one
// must not allocate beyond reason (a longer result still arrives, by
// growing).
const maxAnnounced = 1 << 34

// reply gathers the events of one call on the host's side: log lines go to
// onLog, chunks into the result they make.
type reply struct {
	onLog   func(*pb.LogLine)
	data    []byte
	chunked bool
}

// add takes the call's next event; done is set with its result or error.
func (r *reply) add(ev *pb.CallEvent) (v *pb.Value, err error, done bool) {
	switch e := ev.GetEvent().(type) {
	case *pb.CallEvent_Log:
		if r.onLog != nil {
			r.onLog(e.Log)
		}
		return nil, nil, false
	case *pb.CallEvent_Chunk:
		if !r.chunked {
			r.chunked = true
			if n := e.Chunk.GetSize(); n > 0 && n <= maxAnnounced {
				r.data = make([]byte, 0, n)
			}
		}
		r.data = append(r.data, e.Chunk.GetData()...)
		return nil, nil, false
	case *pb.CallEvent_Result:
		if !r.chunked {
			return e.Result, nil, true
		}
		b := r.data
		r.data = nil // b now belongs to the value: never written again
		switch e.Result.GetKind().(type) {
		case *pb.Value_StringValue:
			return &pb.Value{Kind: &pb.Value_StringValue{StringValue: unsafe.String(unsafe.SliceData(b), len(b))}}, nil, true
		case *pb.Value_BytesValue:
			return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: b}}, nil, true
		}
		return nil, fmt.Errorf("plugin sent chunks for a result of kind %T", e.Result.GetKind()), true
	case *pb.CallEvent_Error:
		r.data = nil
		return nil, &CallError{Msg: e.Error}, true
	}
	return nil, errors.New("plugin sent an event of an unknown kind"), true
}

// argChunks gathers the chunked arguments of one call, by name, in the
// plugin.
type argChunks map[string][]byte

func (a argChunks) add(c *pb.ArgChunk) {
	b, seen := a[c.GetName()]
	if !seen {
		if n := c.GetSize(); n > 0 && n <= maxAnnounced {
			b = make([]byte, 0, n)
		}
	}
	a[c.GetName()] = append(b, c.GetData()...)
}

// fill puts the gathered arguments into req, in place of the empty values
// that stand for them: a string stays a string (sharing the buffer, never
// written again), anything else becomes bytes.
func (a argChunks) fill(req *pb.CallRequest) {
	for _, e := range req.GetArgs() {
		b, ok := a[e.GetKey().GetStringValue()]
		if !ok {
			continue
		}
		if _, text := e.GetValue().GetKind().(*pb.Value_StringValue); text {
			e.Value = &pb.Value{Kind: &pb.Value_StringValue{StringValue: unsafe.String(unsafe.SliceData(b), len(b))}}
		} else {
			e.Value = &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: b}}
		}
	}
}

// bigArg is an argument sent in chunks.
type bigArg struct {
	name string
	data []byte
}

// splitArgs returns req with every string or bytes argument over chunkSize
// replaced by an empty value of its kind, and those arguments, to send in
// chunks before it. req itself is not changed; with nothing to split, it is
// returned as is.
func splitArgs(req *pb.CallRequest) (*pb.CallRequest, []bigArg) {
	var big []bigArg
	var args []*pb.Entry
	for i, e := range req.GetArgs() {
		var data []byte
		text := false
		switch v := e.GetValue().GetKind().(type) {
		case *pb.Value_StringValue:
			// Marshalled, never written: the chunks share the string.
			data, text = unsafe.Slice(unsafe.StringData(v.StringValue), len(v.StringValue)), true
		case *pb.Value_BytesValue:
			data = v.BytesValue
		}
		if len(data) <= chunkSize {
			if args != nil {
				args = append(args, e)
			}
			continue
		}
		if args == nil {
			args = append(make([]*pb.Entry, 0, len(req.GetArgs())), req.GetArgs()[:i]...)
		}
		big = append(big, bigArg{name: e.GetKey().GetStringValue(), data: data})
		args = append(args, &pb.Entry{Key: e.GetKey(), Value: emptyOf(text)})
	}
	if big == nil {
		return req, nil
	}
	return &pb.CallRequest{Function: req.GetFunction(), Args: args, TaskRun: req.GetTaskRun(),
		FlowRunId: req.GetFlowRunId(), ResultChunks: req.GetResultChunks()}, big
}
