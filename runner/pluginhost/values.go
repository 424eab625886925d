package pluginhost

import (
	"fmt"
	"math/big"
	"unsafe"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// toWire turns a Starlark value into a plugin protocol value. Ints stay
// exact at any size; dicts keep their order; structs travel as dicts.
func toWire(v starlark.Value) (*pb.Value, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return &pb.Value{Kind: &pb.Value_None{None: true}}, nil
	case starlark.Bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: bool(v)}}, nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return &pb.Value{Kind: &pb.Value_IntValue{IntValue: i}}, nil
		}
		return &pb.Value{Kind: &pb.Value_BigInt{BigInt: v.BigInt().String()}}, nil
	case starlark.Float:
		return &pb.Value{Kind: &pb.Value_FloatValue{FloatValue: float64(v)}}, nil
	case starlark.String:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: string(v)}}, nil
	case starlark.Bytes:
		// Protocol values are marshalled, never written: the bytes may
		// share the Starlark value's memory rather than copy it.
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: unsafe.Slice(unsafe.StringData(string(v)), len(v))}}, nil
	case *starlark.List:
		l, err := wireList(v)
		return &pb.Value{Kind: &pb.Value_ListValue{ListValue: l}}, err
	case starlark.Tuple:
		l, err := wireList(v)
		return &pb.Value{Kind: &pb.Value_TupleValue{TupleValue: l}}, err
	case *starlark.Dict:
		return wireDict(v.Items())
	case *starlarkstruct.Struct:
		d := starlark.StringDict{}
		v.ToStringDict(d)
		items := make([]starlark.Tuple, 0, len(d))
		for _, k := range d.Keys() {
			items = append(items, starlark.Tuple{starlark.String(k), d[k]})
		}
		return wireDict(items)
	}
	return nil, fmt.Errorf("cannot pass a %s to a plugin (want None, bool, int, float, string, bytes, list, tuple, dict or struct)", v.Type())
}

func wireList(seq starlark.Indexable) (*pb.List, error) {
	l := &pb.List{Items: make([]*pb.Value, seq.Len())}
	for i := range l.Items {
		x, err := toWire(seq.Index(i))
		if err != nil {
			return nil, err
		}
		l.Items[i] = x
	}
	return l, nil
}

func wireDict(items []starlark.Tuple) (*pb.Value, error) {
	d := &pb.Dict{Entries: make([]*pb.Entry, len(items))}
	for i, kv := range items {
		k, err := toWire(kv[0])
		if err != nil {
			return nil, err
		}
		v, err := toWire(kv[1])
		if err != nil {
			return nil, err
		}
		d.Entries[i] = &pb.Entry{Key: k, Value: v}
	}
	return &pb.Value{Kind: &pb.Value_DictValue{DictValue: d}}, nil
}

// fromWire turns a plugin protocol value into a frozen Starlark value.
func fromWire(v *pb.Value) (starlark.Value, error) {
	switch k := v.GetKind().(type) {
	case nil, *pb.Value_None:
		return starlark.None, nil
	case *pb.Value_BoolValue:
		return starlark.Bool(k.BoolValue), nil
	case *pb.Value_IntValue:
		return starlark.MakeInt64(k.IntValue), nil
	case *pb.Value_BigInt:
		i, ok := new(big.Int).SetString(k.BigInt, 10)
		if !ok {
			return nil, fmt.Errorf("bad big int %q from plugin", k.BigInt)
		}
		return starlark.MakeBigInt(i), nil
	case *pb.Value_FloatValue:
		return starlark.Float(k.FloatValue), nil
	case *pb.Value_StringValue:
		return starlark.String(k.StringValue), nil
	case *pb.Value_BytesValue:
		// A received value is dropped once converted, never written:
		// the Starlark value takes its memory rather than a copy (a
		// large download is then held once).
		return starlark.Bytes(unsafe.String(unsafe.SliceData(k.BytesValue), len(k.BytesValue))), nil
	case *pb.Value_ListValue:
		elems, err := fromWireList(k.ListValue)
		return starlark.NewList(elems), err
	case *pb.Value_TupleValue:
		elems, err := fromWireList(k.TupleValue)
		return starlark.Tuple(elems), err
	case *pb.Value_DictValue:
		return fromWireDict(k.DictValue)
	}
	return nil, fmt.Errorf("unknown value kind %T from plugin", v.GetKind())
}

func fromWireList(l *pb.List) ([]starlark.Value, error) {
	out := make([]starlark.Value, len(l.GetItems()))
	for i, x := range l.GetItems() {
		v, err := fromWire(x)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func fromWireDict(d *pb.Dict) (starlark.Value, error) {
	out := starlark.NewDict(len(d.GetEntries()))
	for _, e := range d.GetEntries() {
		k, err := fromWire(e.GetKey())
		if err != nil {
			return nil, err
		}
		v, err := fromWire(e.GetValue())
		if err != nil {
			return nil, err
		}
		if err := out.SetKey(k, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
