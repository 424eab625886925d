package store

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// TestLogEntryParser writes random log entries as the recorder does and
// reads them back with the fast parser: each must equal what
// encoding/json reads (decodeLogEntry), whatever the strings hold.
func TestLogEntryParser(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', 'z', ' ', '"', '\\', '\n', '\t', 0, 0x1b, 'é', '世', '😀', '/', '\u2028'}
	str := func() string {
		r := make([]rune, rnd.IntN(12))
		for i := range r {
			r[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(r)
	}
	kinds := []runtime.Kind{runtime.FlowStarted, runtime.FlowFinished, runtime.TaskState, runtime.TaskLog, runtime.MapExpanded}
	var js []byte
	var want []runtime.Event
	js = append(js, '[')
	for i := range 2000 {
		e := runtime.Event{Seq: rnd.Uint64N(1 << 40), Time: time.Unix(0, rnd.Int64N(1<<62)), Kind: kinds[rnd.IntN(len(kinds))],
			TaskRun: str(), MapIndex: rnd.IntN(5) - 1, Attempt: rnd.IntN(4), State: runtime.State(rnd.IntN(int(runtime.Crashed) + 1)),
			Level: runtime.Level(rnd.IntN(4)), Msg: str(), Children: rnd.IntN(100000), Node: runtime.NoNode}
		if i > 0 {
			js = append(js, ',')
		}
		n := len(js)
		js = appendLogEntry(js, &e)
		ref, err := decodeLogEntry(json.RawMessage(js[n:]))
		if err != nil {
			t.Fatalf("decodeLogEntry(%s): %v", js[n:], err)
		}
		want = append(want, ref)
	}
	js = append(js, ']')
	p := entryParser{b: js}
	var got []runtime.Event
	if err := p.entries(func(e runtime.Event) { got = append(got, e) }); err != nil {
		t.Fatalf("the fast parser refused what appendLogEntry wrote: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// What the fast parser does not take goes through encoding/json.
	spaced := []byte(`[ [1, 1000, "task_log", "a", -1, 1, "", "INFO", "hi", 0] ]`)
	evs, err := appendLogEntries(nil, spaced)
	if err != nil || len(evs) != 1 || evs[0].Msg != "hi" || evs[0].Level != runtime.Info {
		t.Errorf("spaced entries: %+v, %v", evs, err)
	}
}

// TestLogEntryParserInt reads integers about int64's bounds: those that
// fit, and those that do not, which the fast parser leaves to
// encoding/json's error.
func TestLogEntryParserInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"123456789012345678", 123456789012345678, true},
		{"999999999999999999", 999999999999999999, true},
		{"1234567890123456789", 1234567890123456789, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775807", -9223372036854775807, true},
		{"9223372036854775808", 0, false},
		{"99999999999999999999", 0, false},
		{"-", 0, false},
		{"x", 0, false},
	} {
		p := entryParser{b: []byte(c.in + ",")}
		got, err := p.int()
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("int(%q) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && p.i != len(c.in) {
			t.Errorf("int(%q) read %d bytes, want %d", c.in, p.i, len(c.in))
		}
	}
}
