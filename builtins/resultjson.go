package builtins

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/wfsh/wfsh/runtime"
)

// Task results reach the run store and the cache as JSON (docs/store.md; the
// JSON-like values can be persisted). Plain JSON loses what Starlark
// tells apart, so a few values are written as one-key objects:
//
//	None, bool, string, list    null, true, "s", [...]
//	int                         12 (any size, exact)
//	float                       1.5, 2.0 (always with a '.' or an exponent);
//	                            {"$float": "nan"}, {"$float": "+inf"}, {"$float": "-inf"}
//	bytes                       {"$bytes": "<base64>"}
//	tuple                       {"$tuple": [...]}
//	dict                        {"k": v, ...} when every key is a string not
//	                            starting with '$'; else {"$dict": [[k, v], ...]}
//	struct                      {"$struct": {"field": v, ...}}
//
// Anything else (functions, sets, time values, ...) has no JSON form:
// EncodeJSON refuses it and says so.

// MaxResultSize is the largest encoded result kept: a larger one is not
// stored (resume runs its task again; the cache does not keep it).
const MaxResultSize = 8 << 20

// maxResultValues bounds the values (each element, key and scalar) of a
// result kept: a backstop to MaxResultSize, as every value takes at least
// two bytes once encoded.
const maxResultValues = MaxResultSize / 2

// maxJSONSize and maxJSONValues bound EncodeJSON (cache keys and digests
// of arguments).
const (
	maxJSONSize   = 64 << 20
	maxJSONValues = maxJSONSize / 2
)

// EncodeJSON writes v in the JSON form above; a value that would take
// more than 64 MiB is refused, while it is being written.
func EncodeJSON(v starlark.Value) ([]byte, error) {
	e := jsonEncoder{maxBytes: maxJSONSize, maxValues: maxJSONValues}
	return e.encode(nil, v)
}

const maxDepth = 100

// A jsonEncoder writes values in the JSON form above within bounds on
// the bytes written and the values visited, checked as it goes: a list
// that holds the same list many times over is small in memory but
// written out once per occurrence, so its size is known only by writing.
type jsonEncoder struct {
	maxBytes, maxValues int
	start, values       int
}

// errTooLarge reports a value past an encoder's bounds.
type errTooLarge struct{ maxBytes, maxValues int }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("larger than the %s kept once written out (more than %s or %d values; a part held several times counts each time)",
		mib(e.maxBytes), mib(e.maxBytes), e.maxValues)
}

func mib(n int) string { return fmt.Sprintf("%d MiB", n>>20) }

func (e *jsonEncoder) encode(b []byte, v starlark.Value) ([]byte, error) {
	e.start, e.values = len(b), 0
	b, err := e.value(b, v, 0)
	if err == nil && len(b)-e.start > e.maxBytes {
		err = e.tooLarge()
	}
	return b, err
}

func (e *jsonEncoder) tooLarge() error { return &errTooLarge{e.maxBytes, e.maxValues} }

func (e *jsonEncoder) value(b []byte, v starlark.Value, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxDepth)
	}
	e.values++
	if e.values > e.maxValues || len(b)-e.start > e.maxBytes {
		return nil, e.tooLarge()
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return append(b, "null"...), nil
	case starlark.Bool:
		return strconv.AppendBool(b, bool(v)), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return strconv.AppendInt(b, i, 10), nil
		}
		return v.BigInt().Append(b, 10), nil
	case starlark.Float:
		return appendFloat(b, float64(v)), nil
	case starlark.String:
		if len(b)-e.start+len(v)+2 > e.maxBytes { // escaping only adds
			return nil, e.tooLarge()
		}
		return appendString(b, string(v)), nil
	case starlark.Bytes:
		// Refused before it is written out: a 100 MB download as a result
		// was encoded whole (133 MB of base64, after a copy of the bytes)
		// only to be found too large.
		if len(b)-e.start+base64.StdEncoding.EncodedLen(len(v))+len(`{"$bytes":""}`) > e.maxBytes {
			return nil, e.tooLarge()
		}
		b = append(b, `{"$bytes":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(v))
		return append(b, `"}`...), nil
	case *starlark.List:
		return e.seq(b, v, depth)
	case starlark.Tuple:
		b = append(b, `{"$tuple":`...)
		b, err := e.seq(b, v, depth)
		return append(b, '}'), err
	case *starlark.Dict:
		return e.dict(b, v.Items(), depth)
	case *starlarkstruct.Struct:
		d := starlark.StringDict{}
		v.ToStringDict(d)
		b = append(b, `{"$struct":{`...)
		for i, k := range d.Keys() {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendString(b, k), ':')
			var err error
			if b, err = e.value(b, d[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, "}}"...), nil
	}
	return nil, fmt.Errorf("a %s has no JSON form (want None, bool, int, float, string, bytes, list, tuple, dict or struct)", v.Type())
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `{"$float":"nan"}`...)
	case math.IsInf(f, 1):
		return append(b, `{"$float":"+inf"}`...)
	case math.IsInf(f, -1):
		return append(b, `{"$float":"-inf"}`...)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if !bytes.ContainsAny(b[n:], ".e") {
		b = append(b, ".0"...)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (e *jsonEncoder) seq(b []byte, seq starlark.Indexable, depth int) ([]byte, error) {
	b = append(b, '[')
	for i := 0; i < seq.Len(); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = e.value(b, seq.Index(i), depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func (e *jsonEncoder) dict(b []byte, items []starlark.Tuple, depth int) ([]byte, error) {
	plain := true
	for _, kv := range items {
		if k, ok := kv[0].(starlark.String); !ok || strings.HasPrefix(string(k), "$") {
			plain = false
			break
		}
	}
	var err error
	if plain {
		b = append(b, '{')
		for i, kv := range items {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendString(b, string(kv[0].(starlark.String))), ':')
			if b, err = e.value(b, kv[1], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	b = append(b, `{"$dict":[`...)
	for i, kv := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		if b, err = e.value(b, kv[0], depth+1); err != nil {
			return nil, err
		}
		b = append(b, ',')
		if b, err = e.value(b, kv[1], depth+1); err != nil {
			return nil, err
		}
		b = append(b, ']')
	}
	return append(b, "]}"...), nil
}

// DecodeJSON reads what EncodeJSON wrote, as a frozen value.
func DecodeJSON(data []byte) (starlark.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("stored result: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("stored result: data after the value")
	}
	v.Freeze()
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (starlark.Value, error) {
	if depth > maxDepth+2 {
		return nil, fmt.Errorf("nested too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(t), nil
	case string:
		return starlark.String(t), nil
	case json.Number:
		return decodeNumber(string(t))
	case json.Delim:
		if t == '[' {
			elems, err := decodeElems(dec, depth)
			return starlark.NewList(elems), err
		}
		if t == '{' {
			return decodeObject(dec, depth)
		}
	}
	return nil, fmt.Errorf("unexpected %v", tok)
}

func decodeNumber(s string) (starlark.Value, error) {
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		return starlark.Float(f), err
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return starlark.MakeInt64(i), nil
	}
	i, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad number %s", s)
	}
	return starlark.MakeBigInt(i), nil
}

// decodeElems reads the elements of an array whose '[' was read.
func decodeElems(dec *json.Decoder, depth int) ([]starlark.Value, error) {
	var out []starlark.Value
	for dec.More() {
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	_, err := dec.Token() // ]
	return out, err
}

// decodeObject reads an object whose '{' was read: a dict, or one of the
// tagged forms.
func decodeObject(dec *json.Decoder, depth int) (starlark.Value, error) {
	d := starlark.NewDict(0)
	first := true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		if first && strings.HasPrefix(k, "$") {
			v, err := decodeTagged(dec, k, depth)
			if err != nil {
				return nil, err
			}
			if _, err := dec.Token(); err != nil { // }
				return nil, err
			}
			return v, nil
		}
		first = false
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		if err := d.SetKey(starlark.String(k), v); err != nil {
			return nil, err
		}
	}
	_, err := dec.Token() // }
	return d, err
}

func decodeTagged(dec *json.Decoder, tag string, depth int) (starlark.Value, error) {
	v, err := decodeValue(dec, depth+1)
	if err != nil {
		return nil, err
	}
	switch tag {
	case "$float":
		switch v {
		case starlark.String("nan"):
			return starlark.Float(math.NaN()), nil
		case starlark.String("+inf"):
			return starlark.Float(math.Inf(1)), nil
		case starlark.String("-inf"):
			return starlark.Float(math.Inf(-1)), nil
		}
	case "$bytes":
		if s, ok := v.(starlark.String); ok {
			b, err := base64.StdEncoding.DecodeString(string(s))
			return starlark.Bytes(b), err
		}
	case "$tuple":
		if l, ok := v.(*starlark.List); ok {
			t := make(starlark.Tuple, l.Len())
			for i := range t {
				t[i] = l.Index(i)
			}
			return t, nil
		}
	case "$dict":
		if l, ok := v.(*starlark.List); ok {
			return pairsDict(l)
		}
	case "$struct":
		if d, ok := v.(*starlark.Dict); ok {
			sd := starlark.StringDict{}
			for _, kv := range d.Items() {
				sd[string(kv[0].(starlark.String))] = kv[1]
			}
			return starlarkstruct.FromStringDict(starlarkstruct.Default, sd), nil
		}
	}
	return nil, fmt.Errorf("bad %s value %s", tag, v)
}

func pairsDict(l *starlark.List) (starlark.Value, error) {
	d := starlark.NewDict(l.Len())
	for i := 0; i < l.Len(); i++ {
		p, ok := l.Index(i).(*starlark.List)
		if !ok || p.Len() != 2 {
			return nil, fmt.Errorf("bad $dict entry %s", l.Index(i))
		}
		if err := d.SetKey(p.Index(0), p.Index(1)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// AppendResult appends a task run's result, encoded for the run store
// and the cache, to b: JSON as EncodeJSON writes it, unless the value has
// no JSON form, is larger than MaxResultSize, or holds one of the run's
// secrets (then b is returned as it was, with an error saying why).
func (b *Build) AppendResult(buf []byte, v runtime.Value) ([]byte, error) {
	return appendResult(buf, toStarlark(v), b.run.redactor)
}

func appendResult(buf []byte, v starlark.Value, r *runtime.Redactor) ([]byte, error) {
	n := len(buf)
	e := jsonEncoder{maxBytes: MaxResultSize, maxValues: maxResultValues}
	j, err := e.encode(buf, v)
	if err != nil {
		return buf[:n], err
	}
	if holdsSecret(v, r) {
		return buf[:n], fmt.Errorf("the result holds a secret")
	}
	return j, nil
}

// holdsSecret reports whether a string or bytes inside v contains a
// secret the run has read.
func holdsSecret(v starlark.Value, r *runtime.Redactor) bool {
	switch v := v.(type) {
	case starlark.String:
		return r.Redact(string(v)) != string(v)
	case starlark.Bytes:
		return r.Redact(string(v)) != string(v)
	case *starlark.Dict:
		for _, kv := range v.Items() {
			if holdsSecret(kv[0], r) || holdsSecret(kv[1], r) {
				return true
			}
		}
	case starlark.Indexable:
		for i := 0; i < v.Len(); i++ {
			if holdsSecret(v.Index(i), r) {
				return true
			}
		}
	case *starlarkstruct.Struct:
		d := starlark.StringDict{}
		v.ToStringDict(d)
		for _, x := range d {
			if holdsSecret(x, r) {
				return true
			}
		}
	}
	return false
}
