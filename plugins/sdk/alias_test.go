package sdk

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// TestAliasDecoders: the lane's decoders of chunk frames read what
// proto.Unmarshal reads, and leave every other frame to it.
func TestAliasDecoders(t *testing.T) {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chunkEv := func(id uint64, data []byte, size int64) *pb.SessionEvent {
		return &pb.SessionEvent{Id: id, Event: &pb.CallEvent{Event: &pb.CallEvent_Chunk{Chunk: &pb.Chunk{Data: data, Size: size}}}}
	}
	for _, m := range []*pb.SessionEvent{
		chunkEv(7, []byte("abc"), 3),
		chunkEv(0, []byte("x"), 0),
		chunkEv(1<<40, pattern(chunkSize), 5*chunkSize),
		chunkEv(2, nil, 0),
	} {
		got, ok := chunkEvent(marshal(m))
		if !ok || !proto.Equal(got, m) {
			t.Errorf("chunkEvent(%v) = %v, %v", m, got, ok)
		}
	}
	argReq := func(id uint64, name string, data []byte, size int64) *pb.SessionRequest {
		return &pb.SessionRequest{Id: id, Kind: &pb.SessionRequest_ArgChunk{ArgChunk: &pb.ArgChunk{Name: name, Data: data, Size: size}}}
	}
	for _, m := range []*pb.SessionRequest{
		argReq(3, "data", []byte("abc"), 9),
		argReq(0, "", nil, 0),
		argReq(99, "päth", pattern(chunkSize), 0),
	} {
		got, ok := argChunkRequest(marshal(m))
		if !ok || !proto.Equal(got, m) {
			t.Errorf("argChunkRequest(%v) = %v, %v", m, got, ok)
		}
	}

	// Left to proto.Unmarshal: other kinds, unknown fields, bad input.
	withExtra := protowire.AppendTag(marshal(chunkEv(1, []byte("a"), 1)), 9, protowire.VarintType)
	withExtra = protowire.AppendVarint(withExtra, 1)
	for name, buf := range map[string][]byte{
		"result":      marshal(&pb.SessionEvent{Id: 1, Event: &pb.CallEvent{Event: &pb.CallEvent_Result{Result: emptyOf(true)}}}),
		"log":         marshal(&pb.SessionEvent{Id: 1, Event: &pb.CallEvent{Event: &pb.CallEvent_Log{Log: &pb.LogLine{Text: "x"}}}}),
		"extra field": withExtra,
		"truncated":   marshal(chunkEv(1, []byte("abcdef"), 6))[:6],
		"arg chunk":   marshal(argReq(1, "a", []byte("b"), 1)),
	} {
		if m, ok := chunkEvent(buf); ok {
			t.Errorf("chunkEvent took a %s frame: %v", name, m)
		}
	}
	for name, buf := range map[string][]byte{
		"call":   marshal(&pb.SessionRequest{Id: 1, Kind: &pb.SessionRequest_Call{Call: &pb.CallRequest{Function: "f"}}}),
		"cancel": marshal(&pb.SessionRequest{Id: 1, Kind: &pb.SessionRequest_Cancel{Cancel: true}}),
		"chunk":  marshal(chunkEv(1, []byte("a"), 1)),
	} {
		if m, ok := argChunkRequest(buf); ok {
			t.Errorf("argChunkRequest took a %s frame: %v", name, m)
		}
	}
}
