package store

import (
	"bytes"
	stdflate "compress/flate"
	"encoding/json"
	"io"
	"math/rand/v2"
	"reflect"
	"strconv"
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
	var e runtime.Event
	for i := range 2000 {
		last := e
		e = runtime.Event{Seq: rnd.Uint64N(1 << 40), Time: time.Unix(0, rnd.Int64N(1<<62)), Kind: kinds[rnd.IntN(len(kinds))],
			TaskRun: str(), MapIndex: rnd.IntN(5) - 1, Attempt: rnd.IntN(4), State: runtime.State(rnd.IntN(int(runtime.Crashed) + 1)),
			Level: runtime.Level(rnd.IntN(4)), Msg: str(), Children: rnd.IntN(100000), Node: runtime.NoNode}
		// Most entries repeat the fields before the message of the one
		// before (the parser compares them), some all but one.
		if i > 0 && rnd.IntN(4) > 0 {
			e.Kind, e.TaskRun, e.MapIndex, e.Attempt, e.State, e.Level = last.Kind, last.TaskRun, last.MapIndex, last.Attempt, last.State, last.Level
			switch rnd.IntN(8) {
			case 0:
				e.TaskRun += "a"
			case 1:
				e.Attempt++
			case 2:
				e.MapIndex = rnd.IntN(12) - 1
			}
		}
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
	var ev runtime.Event
	if err := p.entries(&ev, func(e *runtime.Event) { got = append(got, *e) }); err != nil {
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
		read int // bytes read, if not all of in
	}{
		{in: "0", want: 0, ok: true},
		{in: "123456789012345678", want: 123456789012345678, ok: true},
		{in: "999999999999999999", want: 999999999999999999, ok: true},
		{in: "1234567890123456789", want: 1234567890123456789, ok: true},
		{in: "9223372036854775807", want: 9223372036854775807, ok: true},
		{in: "-9223372036854775807", want: -9223372036854775807, ok: true},
		{in: "9223372036854775808", want: 0, ok: false},
		{in: "99999999999999999999", want: 0, ok: false},
		{in: "-", want: 0, ok: false},
		{in: "x", want: 0, ok: false},
		// Eight digits at a time, and what ends them in the middle of
		// eight bytes (':' and '/' are the bytes next to the digits).
		{in: "12345678", want: 12345678, ok: true},
		{in: "1234567890123456", want: 1234567890123456, ok: true},
		{in: "00000000000000000000000000001", want: 1, ok: true},
		{in: "1764769217123456789", want: 1764769217123456789, ok: true},
		{in: "-1764769217123456789", want: -1764769217123456789, ok: true},
		{in: "1234567:12", want: 1234567, ok: true, read: 7},
		{in: "123/4567890", want: 123, ok: true, read: 3},
	} {
		p := entryParser{b: []byte(c.in + ",\"state\",\"INFO\",1]")}
		got, err := p.int()
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("int(%q) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
		if c.read == 0 {
			c.read = len(c.in)
		}
		if c.ok && p.i != c.read {
			t.Errorf("int(%q) read %d bytes, want %d", c.in, p.i, c.read)
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		n := rnd.Int64() >> rnd.IntN(64)
		if rnd.IntN(2) == 0 {
			n = -n
		}
		in := strconv.FormatInt(n, 10)
		// At the end of the input, and in the middle of it.
		for _, rest := range []string{"]", "],[12345678,12345678]"} {
			p := entryParser{b: []byte(in + rest)}
			if got, err := p.int(); err != nil || got != n || p.i != len(in) {
				t.Fatalf("int(%q) = %d, %v, read %d bytes", in+rest, got, err, p.i)
			}
		}
	}
}

// compress writes a small chunk as one stored DEFLATE block and a larger
// one compressed; both read back as written, by the store's inflater and
// by the standard library's reader.
func TestCompressSmallStored(t *testing.T) {
	var c compressor
	var f inflater
	for _, n := range []int{0, 1, 300, storedMax, storedMax + 1, 100_000} {
		b := bytes.Repeat([]byte(`[1,"2026-12-03T21:00:00Z","log","t",-1,1,"","INFO","a line"],`), n/60+1)[:n]
		z := append([]byte(nil), c.compress(b)...)
		if stored := n <= storedMax; stored != (len(z) == n+5) || !stored && len(z) >= n/4 {
			t.Errorf("%d bytes compressed to %d: want %d when at most %d, else a quarter or less", n, len(z), n+5, storedMax)
		}
		got, err := f.inflate(z)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%d bytes: read back %d, %v", n, len(got), err)
		}
		std, err := io.ReadAll(stdflate.NewReader(bytes.NewReader(z)))
		if err != nil || !bytes.Equal(std, b) {
			t.Errorf("%d bytes: the standard library read back %d, %v", n, len(std), err)
		}
	}
}
