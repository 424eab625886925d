package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/runtime"
)

// TestDecodeChildrenFast: children columns as the recorder writes them,
// with plain fields and with what the scanner leaves to encoding/json
// (escaped and non-ASCII messages and notes, results holding brackets,
// commas and quotes in strings, nulls, negative times), read by the
// scanner equal what encoding/json reads; columns of another shape are
// left to encoding/json.
func TestDecodeChildrenFast(t *testing.T) {
	const base = int64(1_700_000_000_000_000_000)
	msgs := []string{"", "retrying", `say "hi"`, "tab\there", "naïve", `back\slash`, "]},[{"}
	results := []string{"", "null", "42", "-3.5e7", `"a,b]c"`, `[1,[2,"x]"],{"k":"}"}]`, `{"a":[],"b":{}}`, "true", `"esc\"aped"`}
	states := []runtime.State{runtime.Running, runtime.Success, runtime.Failed, runtime.Cached}
	var cols []string
	for c := range 6 {
		var b []byte
		b = append(b, '{')
		for k, task := range []string{"inc", "sq-2", "t3"}[:1+c%3] {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONString(b, task), ':', '[')
			for i := range 40 {
				if i > 0 {
					b = append(b, ',')
				}
				n := c*40 + i
				r := &record{index: n, state: states[n%len(states)], attempts: n % 3, msg: msgs[n%len(msgs)]}
				if n%5 != 0 {
					r.started = base + int64(n)*1000
				}
				if n%4 == 1 {
					r.finished = base - int64(n)*7000 // before base: negative
				}
				if res := results[n%len(results)]; res != "" {
					r.result = []byte(res)
				}
				if n%6 == 0 {
					r.note = msgs[(n/6)%len(msgs)]
				}
				b = r.appendChildJSON(b, base)
			}
			b = append(b, ']')
		}
		cols = append(cols, string(append(b, '}')))
	}
	for i, col := range cols {
		var fast, slow []record
		ok, err := decodeChildrenFast(col, base, func(r *record) { fast = append(fast, *r) })
		if !ok || err != nil {
			t.Fatalf("column %d: fast %v %v", i, ok, err)
		}
		if err := decodeChildrenJSON(col, base, func(r *record) { slow = append(slow, *r) }); err != nil {
			t.Fatal(err)
		}
		if len(fast) != len(slow) || len(fast) == 0 {
			t.Fatalf("column %d: %d records fast, %d by encoding/json", i, len(fast), len(slow))
		}
		for j := range fast {
			if !reflect.DeepEqual(fmt.Sprint(fast[j]), fmt.Sprint(slow[j])) {
				t.Errorf("column %d, record %d:\nfast %+v\njson %+v", i, j, fast[j], slow[j])
			}
		}
	}
	for _, bad := range []string{`{"inc":[[1,"Running"]]}`, `{"inc": []}`, `{"inc":[[1,"Nope",1,"",null,null,null,""]]}`, `[]`, `{"inc":[]`, `{"a":[]}x`} {
		added := 0
		ok, _ := decodeChildrenFast(bad, base, func(*record) { added++ })
		if ok || added != 0 {
			t.Errorf("%s: read by the scanner (%v, %d records); want it left to encoding/json", bad, ok, added)
		}
	}
	if strings.Count(cols[5], "[") < 100 {
		t.Fatal("the columns are smaller than meant")
	}
}

// TestDecodeTasksFast: the scanner reads a tasks column as appendJSON
// writes it into the same records as encoding/json (decodeRecord), or
// leaves the whole column to encoding/json when one record has a string
// it does not read plainly (escapes, bytes past ASCII) or the column is
// not shaped as appendJSON writes it.
func TestDecodeTasksFast(t *testing.T) {
	const base = int64(1_700_000_000_000_000_000)
	plain := []string{"", "retrying", "]},[{", "a b: c"}
	escaped := []string{`say "hi"`, "tab\there", "naïve", `back\slash`}
	results := []string{"", "null", "42", "-3.5e7", `"a,b]c"`, `[1,[2,"x]"],{"k":"}"}]`, `{"a":[],"b":{}}`, "true", `"esc\"aped"`}
	states := []runtime.State{runtime.Running, runtime.Success, runtime.Failed, runtime.Cached, runtime.Mapped}
	kinds := []string{"task", "param", "const"}
	column := func(n0 int, msgs []string) string {
		b := []byte{'['}
		for i := range 60 {
			if i > 0 {
				b = append(b, ',')
			}
			n := n0 + i
			r := &record{name: fmt.Sprintf("t-%d", n), task: "t", kind: kinds[n%3], state: states[n%len(states)], attempts: n % 3,
				msg: msgs[n%len(msgs)], startSeq: uint64(n * 3), endSeq: uint64(n*3 + n%2)}
			if n%5 != 0 {
				r.started = base + int64(n)*1000
			}
			if n%4 == 1 {
				r.finished = base - int64(n)*7000
			}
			if res := results[n%len(results)]; res != "" {
				r.result = []byte(res)
			}
			if n%6 == 0 {
				r.note = msgs[(n/6)%len(msgs)]
			}
			b = r.appendJSON(b, base)
		}
		return string(append(b, ']'))
	}
	slow := func(col string) []string {
		var raws []json.RawMessage
		if err := json.Unmarshal([]byte(col), &raws); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, raw := range raws {
			r, err := decodeRecord(raw, base)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%+v", *r))
		}
		return out
	}
	for c := range 4 {
		col := column(c*60, plain)
		var fast []string
		if !decodeTasksFast(col, base, func(r *record) { fast = append(fast, fmt.Sprintf("%+v", *r)) }) {
			t.Fatalf("column %d of plain strings: left to encoding/json", c)
		}
		want := slow(col)
		if len(fast) != 60 || !slices.Equal(fast, want) {
			t.Errorf("column %d: the scanner read\n%s\nencoding/json\n%s", c, strings.Join(fast, "\n"), strings.Join(want, "\n"))
		}
	}
	for _, bad := range []string{column(0, escaped), `[["a","t","task","Success",1,"",null,null,1,2,null]]`, `[["a","t","task","Nope",1,"",null,null,1,2,null,""]]`,
		`[`, `{}`, `[["a","t","task","Success",1,"",null,null,1,-2,null,""]]`, `[]x`} {
		added := 0
		if decodeTasksFast(bad, base, func(*record) { added++ }) || added != 0 {
			t.Errorf("%.80s: read by the scanner (%d records); want it left to encoding/json", bad, added)
		}
	}
}
