package runtime

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Redactor masks secret values wherever a run would print them. Secrets are
// added as tasks read them; every text that leaves the executor passes
// through Redact.
type Redactor struct {
	mu       sync.Mutex
	secrets  []string
	replacer atomic.Pointer[strings.Replacer]
}

// Mask replaces a secret's value.
const Mask = "********"

// Add registers a secret value. Empty and one-character values are ignored:
// masking them would garble every line.
func (r *Redactor) Add(secret string) {
	if len(secret) < 2 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if s == secret {
			return
		}
	}
	r.secrets = append(r.secrets, secret)
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	pairs := make([]string, 0, 2*len(r.secrets))
	for _, s := range r.secrets {
		pairs = append(pairs, s, Mask)
	}
	r.replacer.Store(strings.NewReplacer(pairs...))
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

// Redacting returns a Sink that masks secrets in each event's message before
// passing it on.
func Redacting(r *Redactor, next Sink) Sink {
	return SinkFunc(func(e Event) {
		e.Msg = r.Redact(e.Msg)
		next.Emit(e)
	})
}
