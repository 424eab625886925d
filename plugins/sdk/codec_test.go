package sdk

import (
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

func bigInt(s string) *big.Int {
	i, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic("bad big int " + s)
	}
	return i
}

// roundTrip encodes v, sends it through the protobuf wire format and
// decodes it again.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	enc, err := Encode(v)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", v, err)
	}
	wire, err := proto.Marshal(enc)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	var back pb.Value
	if err := proto.Unmarshal(wire, &back); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	dec, err := Decode(&back)
	if err != nil {
		t.Fatalf("Decode(Encode(%#v)): %v", v, err)
	}
	return dec
}

// TestCodecRoundTrip checks that every kind of value the protocol carries
// comes back exactly, through the wire format, in the Go type Decode
// documents.
func TestCodecRoundTrip(t *testing.T) {
	beyond := []string{
		"9223372036854775808",  // MaxInt64 + 1
		"-9223372036854775809", // MinInt64 - 1
		"18446744073709551616", // 2^64
		"123456789012345678901234567890123456789012345678901234567890",
		"-123456789012345678901234567890123456789012345678901234567890",
	}
	cases := []struct {
		name string
		in   any
		want any
	}{
		{"None", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"zero", 0, int64(0)},
		{"int", 42, int64(42)},
		{"int32", int32(-7), int64(-7)},
		{"MinInt64", int64(math.MinInt64), int64(math.MinInt64)},
		{"MaxInt64", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"big.Int that fits", big.NewInt(-5), int64(-5)},
		{"MaxUint64", uint64(math.MaxUint64), bigInt("18446744073709551615")},
		{"float", 1.5, 1.5},
		{"negative float", -2.25e-300, -2.25e-300},
		{"MaxFloat64", math.MaxFloat64, math.MaxFloat64},
		{"smallest float", math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
		{"+Inf", math.Inf(1), math.Inf(1)},
		{"-Inf", math.Inf(-1), math.Inf(-1)},
		{"empty string", "", ""},
		{"unicode", "héllo, 世界 🎉 \u2028 \x00 end", "héllo, 世界 🎉 \u2028 \x00 end"},
		{"bytes with zero bytes", []byte{0, 'a', 0, 0xff, 0}, []byte{0, 'a', 0, 0xff, 0}},
		{"empty list", []any{}, []any{}},
		{"strings", []string{"a", "b"}, []any{"a", "b"}},
		{"tuple", Tuple{int64(1), "two", nil}, Tuple{int64(1), "two", nil}},
		{"empty dict", map[string]any{}, map[string]any{}},
		{"nested", []any{
			int64(1),
			Tuple{[]any{nil, true}, map[string]any{"k": Tuple{}}},
			map[string]any{
				"list":  []any{[]byte{0}, 2.5, bigInt(beyond[0])},
				"dict":  map[string]any{"deeper": []any{map[string]any{"x": "y"}}},
				"none":  nil,
				"tuple": Tuple{Tuple{int64(math.MinInt64)}},
			},
		}, []any{
			int64(1),
			Tuple{[]any{nil, true}, map[string]any{"k": Tuple{}}},
			map[string]any{
				"list":  []any{[]byte{0}, 2.5, bigInt(beyond[0])},
				"dict":  map[string]any{"deeper": []any{map[string]any{"x": "y"}}},
				"none":  nil,
				"tuple": Tuple{Tuple{int64(math.MinInt64)}},
			},
		}},
	}
	for _, s := range beyond {
		cases = append(cases, struct {
			name string
			in   any
			want any
		}{"big " + s, bigInt(s), bigInt(s)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := roundTrip(t, c.in)
			if !equal(got, c.want) {
				t.Errorf("round trip of %#v = %#v (%T), want %#v (%T)", c.in, got, got, c.want, c.want)
			}
		})
	}
}

// equal is reflect.DeepEqual, except that big ints compare by value.
func equal(a, b any) bool {
	if x, ok := a.(*big.Int); ok {
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		return ok && equalSlices(x, y)
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equalSlices(x, y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func equalSlices(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestCodecExactWire checks the wire form itself: ints that fit travel as
// int_value (not as floats or strings), bigger ones as decimal big_int,
// NaN stays NaN, and Encode writes dict keys sorted.
func TestCodecExactWire(t *testing.T) {
	v, _ := Encode(int64(math.MaxInt64))
	if got, ok := v.GetKind().(*pb.Value_IntValue); !ok || got.IntValue != math.MaxInt64 {
		t.Errorf("MaxInt64 encodes as %v", v)
	}
	v, _ = Encode(bigInt("-9223372036854775809"))
	if got, ok := v.GetKind().(*pb.Value_BigInt); !ok || got.BigInt != "-9223372036854775809" {
		t.Errorf("MinInt64-1 encodes as %v", v)
	}
	v, _ = Encode(math.NaN())
	if f, _ := roundTrip(t, math.NaN()).(float64); !math.IsNaN(f) {
		t.Errorf("NaN came back as %v (wire %v)", f, v)
	}
	v, _ = Encode(map[string]any{"b": 1, "c": 2, "a": 3})
	var keys []string
	for _, e := range v.GetDictValue().GetEntries() {
		keys = append(keys, e.GetKey().GetStringValue())
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Errorf("dict keys encoded in order %v, want sorted", keys)
	}
	// A Value with no kind set (an older or careless peer) is None.
	if got, err := Decode(&pb.Value{}); got != nil || err != nil {
		t.Errorf("Decode(empty Value) = %v, %v; want nil, nil", got, err)
	}
}

// TestEncodeRefuses checks that Go values the protocol cannot carry are
// refused with an error naming their type and where they are, instead of
// being dropped or mangled.
func TestEncodeRefuses(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want []string
	}{
		{"struct", struct{ A int }{1}, []string{"struct { A int }"}},
		{"float32", float32(1), []string{"float32"}},
		{"uint", uint(1), []string{"uint"}},
		{"[]int", []int{1}, []string{"[]int"}},
		{"map with int keys", map[int]any{1: "x"}, []string{"map[int]interface {}"}},
		{"map[string]string", map[string]string{"a": "b"}, []string{"map[string]string"}},
		{"channel", make(chan int), []string{"chan int"}},
		{"function", func() {}, []string{"func()"}},
		{"in a list", []any{1, "ok", struct{}{}}, []string{"element 2", "struct {}"}},
		{"in a tuple", Tuple{nil, complex(1, 2)}, []string{"element 1", "complex128"}},
		{"in a dict", map[string]any{"ok": 1, "bad": map[any]any{}}, []string{`key "bad"`, "map[interface {}]interface {}"}},
		{"deep", map[string]any{"a": []any{Tuple{int8(1)}}}, []string{`key "a"`, "element 0", "int8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Encode(c.in)
			if err == nil {
				t.Fatalf("Encode(%#v) = %v, want an error", c.in, v)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestDecodeRefuses checks what a Go plugin cannot take: a dict with keys
// that are not strings (Starlark allows them), wherever it is, and a
// malformed big int.
func TestDecodeRefuses(t *testing.T) {
	intKey := &pb.Value{Kind: &pb.Value_DictValue{DictValue: &pb.Dict{Entries: []*pb.Entry{{
		Key:   &pb.Value{Kind: &pb.Value_IntValue{IntValue: 1}},
		Value: &pb.Value{Kind: &pb.Value_StringValue{StringValue: "one"}},
	}}}}}
	tupleKey := &pb.Value{Kind: &pb.Value_DictValue{DictValue: &pb.Dict{Entries: []*pb.Entry{{
		Key:   &pb.Value{Kind: &pb.Value_TupleValue{TupleValue: &pb.List{}}},
		Value: &pb.Value{Kind: &pb.Value_None{None: true}},
	}}}}}
	nested := &pb.Value{Kind: &pb.Value_ListValue{ListValue: &pb.List{Items: []*pb.Value{
		{Kind: &pb.Value_StringValue{StringValue: "fine"}},
		{Kind: &pb.Value_DictValue{DictValue: &pb.Dict{Entries: []*pb.Entry{{
			Key:   &pb.Value{Kind: &pb.Value_StringValue{StringValue: "outer"}},
			Value: intKey,
		}}}}},
	}}}}
	cases := []struct {
		name string
		in   *pb.Value
		want []string
	}{
		{"int key", intKey, []string{"dict key", "IntValue", "string keys"}},
		{"tuple key", tupleKey, []string{"dict key", "TupleValue", "string keys"}},
		{"nested int key", nested, []string{`key "outer"`, "string keys"}},
		{"bad big int", &pb.Value{Kind: &pb.Value_BigInt{BigInt: "12x"}}, []string{`bad big int "12x"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Decode(c.in)
			if err == nil {
				t.Fatalf("Decode = %#v, want an error", v)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestCallAccessors checks the typed getters of Call: the right value for
// the right type, the zero value for None, absent or mistyped arguments.
func TestCallAccessors(t *testing.T) {
	c := &Call{Args: map[string]any{
		"s": "text", "b": true, "i": int64(-3), "bigfit": big.NewInt(7), "huge": bigInt("99999999999999999999"),
		"m": map[string]any{"k": "v"}, "l": []any{int64(1)}, "t": Tuple{"x"}, "none": nil,
	}}
	if got := c.String("s"); got != "text" {
		t.Errorf(`String("s") = %q`, got)
	}
	if !c.Bool("b") {
		t.Error(`Bool("b") = false`)
	}
	if got := c.Int("i"); got != -3 {
		t.Errorf(`Int("i") = %d`, got)
	}
	if got := c.Int("bigfit"); got != 7 {
		t.Errorf(`Int("bigfit") = %d`, got)
	}
	if got := c.Int("huge"); got != 0 {
		t.Errorf(`Int("huge") = %d, want 0 for an int beyond int64`, got)
	}
	if got := c.Map("m"); got["k"] != "v" {
		t.Errorf(`Map("m") = %v`, got)
	}
	if got := c.List("l"); len(got) != 1 || got[0] != int64(1) {
		t.Errorf(`List("l") = %v`, got)
	}
	if got := c.List("t"); len(got) != 1 || got[0] != "x" {
		t.Errorf(`List("t") = %v (a tuple is a list to List)`, got)
	}
	for _, name := range []string{"none", "absent", "i"} {
		if c.String(name) != "" || c.Map(name) != nil || c.List(name) != nil {
			t.Errorf("getters of %s are not zero values", name)
		}
	}
	for _, name := range []string{"none", "absent", "s"} {
		if c.Bool(name) || c.Int(name) != 0 {
			t.Errorf("Bool/Int of %s are not zero values", name)
		}
	}
	// Log on a Call with nowhere to send lines is a no-op, not a crash.
	c.Logf("nowhere %d", 1)
}
