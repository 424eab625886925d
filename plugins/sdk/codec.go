package sdk

import (
	"fmt"
	"math/big"
	"sort"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// Tuple is a Starlark tuple on the Go side (a list is []any).
type Tuple []any

// Go values that cross the protocol, and what they become:
//
//	nil            None
//	bool           bool
//	int, int64...  int (int64 on the way back)
//	*big.Int       int of any size (int64 on the way back when it fits)
//	float64        float
//	string         string
//	[]byte         bytes
//	[]any          list
//	Tuple          tuple
//	map[string]any dict (keys sorted when encoding)
//	[]string       list of strings
//
// Anything else is refused with an error naming its type.

// Encode turns a Go value into a protocol value.
func Encode(v any) (*pb.Value, error) {
	switch v := v.(type) {
	case nil:
		return &pb.Value{Kind: &pb.Value_None{None: true}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: v}}, nil
	case int:
		return encodeInt(int64(v)), nil
	case int32:
		return encodeInt(int64(v)), nil
	case int64:
		return encodeInt(v), nil
	case uint64:
		return encodeBig(new(big.Int).SetUint64(v)), nil
	case *big.Int:
		return encodeBig(v), nil
	case float64:
		return &pb.Value{Kind: &pb.Value_FloatValue{FloatValue: v}}, nil
	case string:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: v}}, nil
	case []byte:
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: v}}, nil
	case []string:
		items := make([]any, len(v))
		for i, s := range v {
			items[i] = s
		}
		return Encode(items)
	case []any:
		l, err := encodeList(v)
		return &pb.Value{Kind: &pb.Value_ListValue{ListValue: l}}, err
	case Tuple:
		l, err := encodeList(v)
		return &pb.Value{Kind: &pb.Value_TupleValue{TupleValue: l}}, err
	case map[string]any:
		return encodeMap(v)
	}
	return nil, fmt.Errorf("cannot encode a value of Go type %T (want nil, bool, int, *big.Int, float64, string, []byte, []any, Tuple or map[string]any)", v)
}

func encodeInt(i int64) *pb.Value { return &pb.Value{Kind: &pb.Value_IntValue{IntValue: i}} }

func encodeBig(i *big.Int) *pb.Value {
	if i.IsInt64() {
		return encodeInt(i.Int64())
	}
	return &pb.Value{Kind: &pb.Value_BigInt{BigInt: i.String()}}
}

func encodeList(items []any) (*pb.List, error) {
	l := &pb.List{Items: make([]*pb.Value, len(items))}
	for i, x := range items {
		v, err := Encode(x)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		l.Items[i] = v
	}
	return l, nil
}

func encodeMap(m map[string]any) (*pb.Value, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d := &pb.Dict{Entries: make([]*pb.Entry, len(keys))}
	for i, k := range keys {
		v, err := Encode(m[k])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		d.Entries[i] = &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: k}}, Value: v}
	}
	return &pb.Value{Kind: &pb.Value_DictValue{DictValue: d}}, nil
}

// Decode turns a protocol value into a Go value (see Encode for the
// mapping). Dicts must have string keys on the Go side.
func Decode(v *pb.Value) (any, error) {
	switch k := v.GetKind().(type) {
	case nil, *pb.Value_None:
		return nil, nil
	case *pb.Value_BoolValue:
		return k.BoolValue, nil
	case *pb.Value_IntValue:
		return k.IntValue, nil
	case *pb.Value_BigInt:
		i, ok := new(big.Int).SetString(k.BigInt, 10)
		if !ok {
			return nil, fmt.Errorf("bad big int %q", k.BigInt)
		}
		return i, nil
	case *pb.Value_FloatValue:
		return k.FloatValue, nil
	case *pb.Value_StringValue:
		return k.StringValue, nil
	case *pb.Value_BytesValue:
		return k.BytesValue, nil
	case *pb.Value_ListValue:
		return decodeList(k.ListValue)
	case *pb.Value_TupleValue:
		l, err := decodeList(k.TupleValue)
		return Tuple(l), err
	case *pb.Value_DictValue:
		return decodeDict(k.DictValue)
	}
	return nil, fmt.Errorf("unknown value kind %T", v.GetKind())
}

func decodeList(l *pb.List) ([]any, error) {
	out := make([]any, len(l.GetItems()))
	for i, x := range l.GetItems() {
		v, err := Decode(x)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func decodeDict(d *pb.Dict) (map[string]any, error) {
	m := make(map[string]any, len(d.GetEntries()))
	for _, e := range d.GetEntries() {
		k, ok := e.GetKey().GetKind().(*pb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("dict key of kind %T: Go plugins take dicts with string keys", e.GetKey().GetKind())
		}
		v, err := Decode(e.GetValue())
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.StringValue, err)
		}
		m[k.StringValue] = v
	}
	return m, nil
}
