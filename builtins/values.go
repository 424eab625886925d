package builtins

import (
	"fmt"
	"math/big"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// starlarkValues is the runtime.ValueOps of Starlark graphs.
type starlarkValues struct{}

// Split returns the elements of an iterable Starlark value.
func (starlarkValues) Split(v runtime.Value) ([]runtime.Value, error) {
	sv := toStarlark(v)
	it, ok := sv.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("got %s, want a list, tuple, dict, set or range", sv.Type())
	}
	var out []runtime.Value
	if s, ok := sv.(starlark.Sequence); ok {
		out = make([]runtime.Value, 0, s.Len())
	}
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		out = append(out, x)
	}
	return out, nil
}

// Join builds a frozen list; children without a result give None.
func (starlarkValues) Join(vs []runtime.Value) runtime.Value {
	elems := make([]starlark.Value, len(vs))
	for i, v := range vs {
		elems[i] = toStarlark(v)
	}
	l := starlark.NewList(elems)
	l.Freeze()
	return l
}

// toStarlark turns a runtime value (nil for runs without a result) into a
// Starlark value.
func toStarlark(v runtime.Value) starlark.Value {
	if v == nil {
		return starlark.None
	}
	if sv, ok := v.(starlark.Value); ok {
		return sv
	}
	return starlark.String(fmt.Sprint(v))
}

// duration reads a duration given as "1m30s", a number of seconds, or a
// time.duration value.
type duration struct{ d time.Duration }

func (d *duration) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		d.d = 0
	case starlark.String:
		x, err := time.ParseDuration(string(v))
		if err != nil {
			return fmt.Errorf("bad duration %s (want e.g. \"30s\", \"1m30s\" or a number of seconds)", v)
		}
		d.d = x
	case starlark.Int:
		s, ok := v.Int64()
		if !ok {
			return fmt.Errorf("duration %s out of range", v)
		}
		d.d = time.Duration(s) * time.Second
	case starlark.Float:
		d.d = time.Duration(float64(v) * float64(time.Second))
	default:
		if dv, ok := v.(interface{ String() string }); ok && v.Type() == "time.duration" {
			x, err := time.ParseDuration(dv.String())
			if err != nil {
				return err
			}
			d.d = x
			return nil
		}
		return fmt.Errorf("got %s, want a duration such as \"30s\" or a number of seconds", v.Type())
	}
	if d.d < 0 {
		return fmt.Errorf("negative duration %s", d.d)
	}
	return nil
}

// stringList unpacks a list or tuple of strings.
type stringList []string

func (l *stringList) Unpack(v starlark.Value) error {
	it, ok := v.(starlark.Iterable)
	if !ok {
		return fmt.Errorf("got %s, want a list of strings", v.Type())
	}
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		s, ok := starlark.AsString(x)
		if !ok {
			return fmt.Errorf("got %s in list, want string", x.Type())
		}
		*l = append(*l, s)
	}
	return nil
}

// tagLimits is a flow's limits=: a dict of task tag to the number of its
// task runs that may run at once (0 or more).
type tagLimits map[string]int

func (l *tagLimits) Unpack(v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want a dict of tag to number of slots, e.g. {\"db\": 2}", v.Type())
	}
	m := make(tagLimits, d.Len())
	for _, kv := range d.Items() {
		tag, ok := starlark.AsString(kv[0])
		if !ok || tag == "" {
			return fmt.Errorf("key %s: want a tag (a non-empty string)", kv[0].String())
		}
		n, err := starlark.AsInt32(kv[1])
		if _, isInt := kv[1].(starlark.Int); err != nil || !isInt || n < 0 {
			return fmt.Errorf("%q: %s: want a number of slots (an int, 0 or more)", tag, kv[1].String())
		}
		m[tag] = n
	}
	*l = m
	return nil
}

// FromJSON converts a value decoded by encoding/json with UseNumber into a
// Starlark value, keeping integers exact.
func FromJSON(v any) (starlark.Value, error) {
	switch v := v.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(v), nil
	case string:
		return starlark.String(v), nil
	case interface{ String() string }: // json.Number
		return jsonNumber(v.String())
	case []any:
		elems := make([]starlark.Value, len(v))
		for i, e := range v {
			x, err := FromJSON(e)
			if err != nil {
				return nil, err
			}
			elems[i] = x
		}
		return starlark.NewList(elems), nil
	case map[string]any:
		return jsonObject(v)
	}
	return nil, fmt.Errorf("unsupported JSON value %T", v)
}

func jsonNumber(s string) (starlark.Value, error) {
	if i, ok := new(big.Int).SetString(s, 10); ok {
		return starlark.MakeBigInt(i), nil
	}
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		return nil, fmt.Errorf("bad number %s", s)
	}
	return starlark.Float(f), nil
}

func jsonObject(m map[string]any) (starlark.Value, error) {
	d := starlark.NewDict(len(m))
	for _, k := range sortedKeys(m) {
		x, err := FromJSON(m[k])
		if err != nil {
			return nil, err
		}
		if err := d.SetKey(starlark.String(k), x); err != nil {
			return nil, err
		}
	}
	return d, nil
}
