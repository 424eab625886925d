package builtins

import (
	"math"
	goruntime "runtime"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/wfsh/wfsh/runtime"
)

func eval(t *testing.T, expr string) starlark.Value {
	t.Helper()
	predeclared := starlark.StringDict{"struct": starlark.NewBuiltin("struct", starlarkstruct.Make)}
	v, err := starlark.EvalOptions(FileOptions, &starlark.Thread{}, "expr", expr, predeclared)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// TestResultJSONRoundTrip encodes values and decodes them back: each must
// come back equal and of the same type.
func TestResultJSONRoundTrip(t *testing.T) {
	for _, c := range []struct{ expr, json string }{
		{`None`, `null`},
		{`True`, `true`},
		{`-12`, `-12`},
		{`123456789012345678901234567890`, `123456789012345678901234567890`},
		{`2.0`, `2.0`},
		{`1.5e300`, `1.5e+300`},
		{`"a \"q\" é\n"`, `"a \"q\" é\n"`},
		{`b"\x00\xff"`, `{"$bytes":"AP8="}`},
		{`[1, [2, "x"]]`, `[1,[2,"x"]]`},
		{`(1, (2,))`, `{"$tuple":[1,{"$tuple":[2]}]}`},
		{`{"b": 1, "a": [None]}`, `{"b":1,"a":[null]}`},
		{`{1: "one", "two": 2}`, `{"$dict":[[1,"one"],["two",2]]}`},
		{`{"$tuple": 1}`, `{"$dict":[["$tuple",1]]}`},
		{`{(1, 2): 3}`, `{"$dict":[[{"$tuple":[1,2]},3]]}`},
		{`struct(b=1, a="x")`, `{"$struct":{"a":"x","b":1}}`},
		{`{}`, `{}`},
		{`[]`, `[]`},
	} {
		v := eval(t, c.expr)
		j, err := EncodeJSON(v)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if string(j) != c.json {
			t.Errorf("%s encodes as %s, want %s", c.expr, j, c.json)
		}
		back, err := DecodeJSON(j)
		if err != nil {
			t.Errorf("%s: decode %s: %v", c.expr, j, err)
			continue
		}
		if back.Type() != v.Type() {
			t.Errorf("%s comes back as a %s, want a %s", c.expr, back.Type(), v.Type())
		}
		if eq, err := starlark.Equal(back, v); err != nil || !eq {
			// Structs do not compare with ==: compare their text.
			if back.String() != v.String() {
				t.Errorf("%s comes back as %s", c.expr, back)
			}
		}
	}
}

func TestResultJSONSpecialFloats(t *testing.T) {
	for _, f := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		j, err := EncodeJSON(starlark.Float(f))
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeJSON(j)
		if err != nil {
			t.Fatalf("%s: %v", j, err)
		}
		g := float64(back.(starlark.Float))
		if !(g == f || (math.IsNaN(f) && math.IsNaN(g))) {
			t.Errorf("%v comes back as %v (via %s)", f, g, j)
		}
	}
}

func TestResultJSONRefuses(t *testing.T) {
	for _, c := range []struct{ expr, err string }{
		{`lambda: 1`, "a function has no JSON form"},
		{`set([1])`, "a set has no JSON form"},
		{`[1, {"x": range(3)}]`, "a range has no JSON form"},
	} {
		if _, err := EncodeJSON(eval(t, c.expr)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", c.expr, err, c.err)
		}
	}
	for _, bad := range []string{`{"$float": "big"}`, `{"$tuple": 1}`, `[1,`, `1 2`, `{"$bytes": "!!"}`} {
		if _, err := DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("DecodeJSON(%s) is no error", bad)
		}
	}
}

// TestResultWithSecretNotEncoded: a result holding a secret the run read
// is not stored, wherever the secret sits in it.
func TestResultWithSecretNotEncoded(t *testing.T) {
	r := &runtime.Redactor{}
	r.Add("hunter2-secret")
	for _, expr := range []string{`"hunter2-secret"`, `["a", {"k": "pw=hunter2-secret"}]`, `b"hunter2-secret"`,
		`{"hunter2-secret": 1}`, `struct(x=("hunter2-secret",))`} {
		buf := []byte("kept")
		out, err := appendResult(buf, eval(t, expr), r)
		if err == nil || !strings.Contains(err.Error(), "secret") || string(out) != "kept" {
			t.Errorf("%s: %q, %v; want an error and the buffer as it was", expr, out, err)
		}
	}
	if out, err := appendResult(nil, eval(t, `["hunter2"]`), r); err != nil || string(out) != `["hunter2"]` {
		t.Errorf("a result without the secret: %q, %v", out, err)
	}
}

// A result that shares its parts is small in memory and huge once written
// out: the encoder stops at the bound while writing, with little memory.
func TestResultSharedPartsBounded(t *testing.T) {
	thread := &starlark.Thread{}
	globals, err := starlark.ExecFileOptions(FileOptions, thread, "bomb.star", `
def bomb(n):
    x = ["lol"] * 9
    for _ in range(n):
        x = [x] * 9
    return x
nine = bomb(8)      # 9^9 leaves, 3.9 GB as JSON
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	buf := []byte("kept")
	out, err := appendResult(buf, globals["nine"], &runtime.Redactor{})
	goruntime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "larger than the 8 MiB kept once written out") || string(out) != "kept" {
		t.Errorf("appendResult: %.40q, %v; want the buffer as it was and an error", out, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("encoding allocated %d MiB, want a bound near the 8 MiB kept", alloc>>20)
	}
	if _, err := EncodeJSON(globals["nine"]); err == nil || !strings.Contains(err.Error(), "larger than the 64 MiB") {
		t.Errorf("EncodeJSON: %v, want the 64 MiB bound", err)
	}
	// Under the bounds, a result is kept whole, shared parts and all.
	small := eval(t, `[["lol"] * 9] * 9`)
	if out, err := appendResult(nil, small, &runtime.Redactor{}); err != nil || strings.Count(string(out), "lol") != 81 {
		t.Errorf("a small shared result: %v, %d leaves", err, strings.Count(string(out), "lol"))
	}
}

// A large string or bytes result (a download) is refused by its length,
// before it is written out: the encoder allocates next to nothing for it.
// Results just under the bound are kept whole.
func TestResultLargeBytesRefusedUnwritten(t *testing.T) {
	big := strings.Repeat("x", 64<<20)
	for _, v := range []starlark.Value{starlark.Bytes(big), starlark.String(big),
		starlark.NewList([]starlark.Value{starlark.MakeInt(1), starlark.Bytes(big)})} {
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		out, err := appendResult([]byte("kept"), v, &runtime.Redactor{})
		goruntime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "larger than the 8 MiB") || string(out) != "kept" {
			t.Errorf("%s of 64 MiB: %.40q, %v; want the buffer as it was and an error", v.Type(), out, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s of 64 MiB: encoding allocated %d KiB, want next to nothing", v.Type(), alloc>>10)
		}
	}
	// The largest bytes that fit: base64 of n bytes is 4*ceil(n/3), plus
	// the 13 bytes of {"$bytes":""}.
	n := (MaxResultSize - 13) / 4 * 3
	for _, c := range []struct {
		n    int
		kept bool
	}{{n, true}, {n + 3, false}} {
		_, err := appendResult(nil, starlark.Bytes(strings.Repeat("y", c.n)), &runtime.Redactor{})
		if (err == nil) != c.kept {
			t.Errorf("bytes of %d: %v, want kept %v", c.n, err, c.kept)
		}
	}
	if out, err := appendResult(nil, starlark.String(strings.Repeat("z", MaxResultSize-2)), &runtime.Redactor{}); err != nil || len(out) != MaxResultSize {
		t.Errorf("a string of MaxResultSize-2: %d bytes, %v; want it kept", len(out), err)
	}
}
