package runtime

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Redactor masks secret values wherever a run would print them. Secrets are
// added as tasks read them; every text that leaves the executor passes
// through Redact.
//
// A secret is masked as it is and as the program itself may have written
// it: quoted the way Starlark's repr and Go's %q quote a string, the way
// JSON does (with and without HTML escaping), and any of those quoted
// once more (repr of a list of reprs, a JSON event holding a repr). A
// secret of several lines is masked line by line too, so that a command
// that prints it one line at a time (a private key echoed by a shell task)
// shows none of it; lines shorter than MinLine are left alone.
type Redactor struct {
	mu       sync.Mutex
	secrets  map[string]bool // as added
	forms    map[string]bool // every text masked
	replacer atomic.Pointer[strings.Replacer]
}

// Mask replaces a secret's value.
const Mask = "********"

// MinLine is how long a line of a multi-line secret must be, without its
// surrounding white space, to be masked on its own: shorter lines ("}",
// "-----") would garble every output.
const MinLine = 6

// Add registers a secret value. Empty and one-character values are ignored:
// masking them would garble every line.
func (r *Redactor) Add(secret string) {
	if len(secret) < 2 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets[secret] {
		return
	}
	if r.secrets == nil {
		r.secrets, r.forms = map[string]bool{}, map[string]bool{}
	}
	r.secrets[secret] = true
	added := false
	for _, p := range pieces(secret) {
		for _, f := range encodings(p) {
			if len(f) >= 2 && !r.forms[f] {
				r.forms[f] = true
				added = true
			}
		}
	}
	if !added {
		return
	}
	all := make([]string, 0, len(r.forms))
	for f := range r.forms {
		all = append(all, f)
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(all, func(i, j int) bool {
		if len(all[i]) != len(all[j]) {
			return len(all[i]) > len(all[j])
		}
		return all[i] < all[j]
	})
	pairs := make([]string, 0, 2*len(all))
	for _, f := range all {
		pairs = append(pairs, f, Mask)
	}
	r.replacer.Store(strings.NewReplacer(pairs...))
}

// pieces is the secret itself and, when it has several lines, each line
// of at least MinLine bytes, without its surrounding white space.
func pieces(secret string) []string {
	out := []string{secret}
	if !strings.Contains(secret, "\n") {
		return out
	}
	for line := range strings.SplitSeq(secret, "\n") {
		if line = strings.TrimSpace(line); len(line) >= MinLine {
			out = append(out, line)
		}
	}
	return out
}

// quotings are the ways a program quotes a string, each returning the
// quoted text without its quotes: Go's %q, which is also Starlark's repr
// (syntax.Quote escapes exactly as strconv.Quote does) and its json.encode
// of printable ASCII; Go's %+q; JSON as encoding/json writes it, which
// Starlark's json.encode uses for any other string; and JSON without HTML
// escaping, as a json.Encoder with SetEscapeHTML(false) writes it.
var quotings = []func(string) string{
	func(s string) string { return unquote(strconv.Quote(s)) },
	func(s string) string { return unquote(strconv.QuoteToASCII(s)) },
	func(s string) string {
		b, _ := json.Marshal(s)
		return unquote(string(b))
	},
	func(s string) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		return unquote(strings.TrimSuffix(buf.String(), "\n"))
	},
}

func unquote(q string) string { return q[1 : len(q)-1] }

// encodings is s, s quoted in each of the quotings, and each of those
// quoted once more.
func encodings(s string) []string {
	out := []string{s}
	for _, q := range quotings {
		once := q(s)
		out = append(out, once)
		for _, q2 := range quotings {
			out = append(out, q2(once))
		}
	}
	return out
}

// Redact returns s with every registered secret masked.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	rep := r.replacer.Load()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}
