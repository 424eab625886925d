package sdk

import (
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// Chunk frames on the calls lane are decoded without copying their data:
// the chunk's bytes alias the frame buffer, which the next Recv reuses.
// Both receiving loops append a chunk where it belongs before they receive
// again, so a large result or argument is copied once, into its own
// buffer, instead of once more into a slice per chunk that is garbage at
// once (with Go's GC pacing, that garbage would double the process's peak
// memory for a large object).
//
// Any other frame, or a chunk frame with a field these decoders do not
// expect, goes through proto.Unmarshal.

// chunkEvent decodes a SessionEvent that carries a result chunk.
func chunkEvent(buf []byte) (*pb.SessionEvent, bool) {
	id, body, ok := sessionFrame(buf, 2)
	if !ok {
		return nil, false
	}
	// CallEvent: field 4, the Chunk, alone.
	num, typ, n := protowire.ConsumeTag(body)
	if n < 0 || num != 4 || typ != protowire.BytesType {
		return nil, false
	}
	chunk, m := protowire.ConsumeBytes(body[n:])
	if m < 0 || n+m != len(body) {
		return nil, false
	}
	c := &pb.Chunk{}
	ok = fields(chunk, func(num protowire.Number, typ protowire.Type, b []byte, v uint64) bool {
		switch {
		case num == 1 && typ == protowire.BytesType:
			c.Data = b
		case num == 2 && typ == protowire.VarintType:
			c.Size = int64(v)
		default:
			return false
		}
		return true
	})
	if !ok {
		return nil, false
	}
	return &pb.SessionEvent{Id: id, Event: &pb.CallEvent{Event: &pb.CallEvent_Chunk{Chunk: c}}}, true
}

// argChunkRequest decodes a SessionRequest that carries an argument chunk.
func argChunkRequest(buf []byte) (*pb.SessionRequest, bool) {
	id, body, ok := sessionFrame(buf, 4)
	if !ok {
		return nil, false
	}
	c := &pb.ArgChunk{}
	ok = fields(body, func(num protowire.Number, typ protowire.Type, b []byte, v uint64) bool {
		switch {
		case num == 1 && typ == protowire.BytesType:
			c.Name = string(b)
		case num == 2 && typ == protowire.BytesType:
			c.Data = b
		case num == 3 && typ == protowire.VarintType:
			c.Size = int64(v)
		default:
			return false
		}
		return true
	})
	if !ok {
		return nil, false
	}
	return &pb.SessionRequest{Id: id, Kind: &pb.SessionRequest_ArgChunk{ArgChunk: c}}, true
}

// sessionFrame reads a frame of two fields, the id (field 1, varint) and
// field want (a message), in either order, and returns the message's bytes.
func sessionFrame(buf []byte, want protowire.Number) (id uint64, body []byte, ok bool) {
	seen := false
	ok = fields(buf, func(num protowire.Number, typ protowire.Type, b []byte, v uint64) bool {
		switch {
		case num == 1 && typ == protowire.VarintType:
			id = v
		case num == want && typ == protowire.BytesType && !seen:
			body, seen = b, true
		default:
			return false
		}
		return true
	})
	return id, body, ok && seen
}

// fields calls f with each field of a message (b for bytes fields, v for
// varints); it stops, false, at the first field f refuses or at bad input.
func fields(buf []byte, f func(num protowire.Number, typ protowire.Type, b []byte, v uint64) bool) bool {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return false
		}
		buf = buf[n:]
		var b []byte
		var v uint64
		switch typ {
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(buf)
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(buf)
		default:
			return false
		}
		if n < 0 || !f(num, typ, b, v) {
			return false
		}
		buf = buf[n:]
	}
	return true
}
