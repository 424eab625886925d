package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wfsh/wfsh/runtime"
)

// randomSecret returns a string of 4 to 40 runes drawn from the whole
// Unicode range, with quotes, backslashes, newlines, control characters,
// HTML's <>& and characters outside the BMP over-represented. '*' is left
// out: a secret made of it would be found in the mask itself.
func randomSecret(rng *rand.Rand) string {
	special := []rune{'"', '\\', '\'', '\n', '\r', '\t', 0, 0x1b, 0x7f, '<', '>', '&', 0x2028, 0x85, 0xfeff, 0x1f600, 0x10ffff, '/', ' '}
	n := 4 + rng.IntN(37)
	var b strings.Builder
	for b.Len() == 0 || utf8.RuneCountInString(b.String()) < n {
		var r rune
		switch rng.IntN(4) {
		case 0:
			r = special[rng.IntN(len(special))]
		case 1:
			r = rune(0x20 + rng.IntN(0x5f)) // printable ASCII
		default:
			r = rune(rng.IntN(utf8.MaxRune + 1))
		}
		if r == '*' || !utf8.ValidRune(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// programEncodings is the secret as a program may print it: raw, with
// Go's %q, %+q, %v of a slice, JSON (alone, in a list, as a map key, with
// and without HTML escaping, indented) and quoted twice.
func programEncodings(s string) []string {
	js := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	noHTML := func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return buf.String()
	}
	indented, _ := json.MarshalIndent(map[string]any{"k": []string{s}}, "", "  ")
	return []string{
		s,
		fmt.Sprintf("%q", s),
		fmt.Sprintf("%+q", s),
		fmt.Sprintf("%v", []string{s}),
		fmt.Sprintf("%q", []string{s, s}),
		fmt.Sprintf("key %q not in dict", s),
		js(s), js([]string{"x", s}), js(map[string]int{s: 1}), noHTML(s), noHTML([]string{s}),
		string(indented),
		strconv.Quote(strconv.Quote(s)),
		js(strconv.Quote(s)),
		strconv.Quote(js(s)),
		js(js(s)),
		js(map[string]string{"msg": fmt.Sprintf("failed: %q", s)}),
	}
}

// leakForms is what must not be found in output: the secret and its
// quoted forms, and each of its lines of MinLine or more.
func leakForms(s string) []string {
	inner := func(q string) string { return q[1 : len(q)-1] }
	jsq := func(s string) string {
		b, _ := json.Marshal(s)
		return inner(string(b))
	}
	forms := []string{s, inner(strconv.Quote(s)), jsq(s), inner(strconv.QuoteToASCII(s)), jsq(inner(strconv.Quote(s)))}
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); len(line) >= runtime.MinLine {
			forms = append(forms, line)
		}
	}
	return forms
}

// TestRedactEncodings: for random secrets over the whole Unicode range,
// every way a program quotes the secret is masked, in the middle of a line
// as well as alone, and so is each long enough line of it printed alone.
func TestRedactEncodings(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 5))
	for range 200 {
		s := randomSecret(rng)
		r := &runtime.Redactor{}
		r.Add("unrelated-secret") // masked first: the secret's forms come on top
		r.Add(s)
		outputs := programEncodings(s)
		for _, line := range strings.Split(s, "\n") {
			outputs = append(outputs, line, strconv.Quote(line), "out: "+line+"\r")
		}
		for _, out := range outputs {
			for _, text := range []string{out, "before " + out + " after", "\x1b[1m" + out} {
				got := r.Redact(text)
				for _, f := range leakForms(s) {
					if strings.Contains(got, f) {
						t.Fatalf("secret %q: %q redacted is %q, which still holds %q", s, text, got, f)
					}
				}
			}
		}
	}
}

// TestRedactMultiLine: a private key read as one secret is masked when a
// command prints it one line per log line; short lines are left alone.
func TestRedactMultiLine(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n}\n-----END PRIVATE KEY-----\n"
	r := &runtime.Redactor{}
	r.Add(key)
	for _, line := range strings.Split(key, "\n") {
		got := r.Redact(line)
		switch {
		case len(line) >= runtime.MinLine && got != runtime.Mask:
			t.Errorf("line %q redacted is %q, want the mask", line, got)
		case len(line) < runtime.MinLine && got != line:
			t.Errorf("short line %q redacted is %q, want it unchanged", line, got)
		}
	}
	if got := r.Redact("key: " + key); got != "key: "+runtime.Mask {
		t.Errorf("whole key redacted is %q", got)
	}
	if got, want := r.Redact(`{"private_key": "`+strings.ReplaceAll(key, "\n", `\n`)+`"}`), `{"private_key": "`+runtime.Mask+`"}`; got != want {
		t.Errorf("key in JSON redacted is %q, want %q", got, want)
	}
}

// TestResultMasked: the messages of a run's Result (the flow's and each
// task run's, as the REPL's run.states shows them) are masked as its
// events are.
func TestResultMasked(t *testing.T) {
	b := newBuilder()
	red := &runtime.Redactor{}
	n := b.task("talk", nil)
	n.Body = runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
		red.Add(`hun"ter2`)
		return nil, fmt.Errorf("bad %q", `hun"ter2`)
	})
	res, _ := run(t, b.g, runtime.Options{Redactor: red})
	if got := res.Tasks[n.ID].Msg; got != `bad "********"` {
		t.Errorf("task message %q", got)
	}
	if strings.Contains(res.Msg, "ter2") {
		t.Errorf("flow message %q", res.Msg)
	}
}

// BenchmarkRedact masks a log line with a service-account key's secrets
// registered (the key whole, its lines, its other fields), as every event
// of such a run is masked.
func BenchmarkRedact(b *testing.B) {
	key := "-----BEGIN PRIVATE KEY-----\n" + strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n", 26) + "-----END PRIVATE KEY-----\n"
	r := &runtime.Redactor{}
	for _, s := range []string{`{"private_key": "` + strings.ReplaceAll(key, "\n", `\n`) + `"}`, key, "robot@project.iam.gserviceaccount.com", "1234567890abcdef"} {
		r.Add(s)
	}
	line := "INFO extracted 1,204 rows from s3://bucket/day=2020-11-29/part-0003.csv in 1.2s"
	b.ReportAllocs()
	for b.Loop() {
		if r.Redact(line) != line {
			b.Fatal("masked a line without a secret")
		}
	}
}
