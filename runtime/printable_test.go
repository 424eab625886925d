package runtime_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wfsh/wfsh/runtime"
)

func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain name", "plain name"},
		{"tab\tkept", "tab\tkept"},
		{"a\nb", `a\nb`},
		{"nul\x00esc\x1b[2Jdel\x7f", `nul\x00esc\x1b[2Jdel\x7f`},
		{"cr\rbell\a", `cr\rbell\a`},
		{"c1\u0085 \u009b", `c1\u0085 \u009b`},
		{"rtl\u202eevil", `rtl\u202eevil`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"héllo 世界 😀", "héllo 世界 😀"},
	} {
		if got := runtime.Printable(c.in); got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestPrintableRandom: on random strings, the output has no control
// character but tab, and unquoting what Printable escaped gives the input
// back (for valid UTF-8 without backslashes, which Printable leaves as
// they are).
func TestPrintableRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(20) {
			switch rng.IntN(3) {
			case 0:
				b.WriteByte(byte(rng.IntN(0x20)))
			case 1:
				b.WriteRune(rune(0x80 + rng.IntN(0x30)))
			default:
				b.WriteRune(rune(rng.IntN(0x3000)))
			}
		}
		in := strings.ReplaceAll(b.String(), `\`, "")
		out := runtime.Printable(in)
		for _, r := range out {
			if (r < 0x20 && r != '\t') || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) {
				t.Fatalf("Printable(%q) = %q holds %U", in, out, r)
			}
		}
		if !utf8.ValidString(in) {
			continue
		}
		back, err := strconv.Unquote(`"` + strings.ReplaceAll(out, `"`, `\"`) + `"`)
		if err != nil || back != in {
			t.Fatalf("Printable(%q) = %q, unquoted %q (%v)", in, out, back, err)
		}
	}
}

// TestIsPrintableEachPosition: in printable ASCII of every length up to
// 40 (short strings are checked a word or a byte at a time, long ones
// sixteen bytes at a time), one byte to escape at any position is found,
// and escaped in place.
func TestIsPrintableEachPosition(t *testing.T) {
	for n := range 41 {
		clean := strings.Repeat("a~ Z", 11)[:n]
		if !runtime.IsPrintable(clean) || runtime.Printable(clean) != clean {
			t.Fatalf("IsPrintable(%q) false", clean)
		}
		for i := range n {
			for _, c := range []byte{0x00, '\n', 0x1b, 0x1f, 0x7f, 0x80, 0xff} {
				s := clean[:i] + string([]byte{c}) + clean[i+1:]
				if runtime.IsPrintable(s) {
					t.Fatalf("IsPrintable(%q) true", s)
				}
				want := clean[:i] + strings.Trim(strconv.QuoteToASCII(string([]byte{c})), `"`) + clean[i+1:]
				if c >= 0x80 {
					want = clean[:i] + fmt.Sprintf(`\x%02x`, c) + clean[i+1:]
				}
				if got := runtime.Printable(s); got != want {
					t.Fatalf("Printable(%q) = %q, want %q", s, got, want)
				}
			}
		}
		tab := strings.Repeat("\t", n)
		if !runtime.IsPrintable(tab) {
			t.Fatalf("IsPrintable(%q) false", tab)
		}
	}
}
