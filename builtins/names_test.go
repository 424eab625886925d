package builtins

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// Repeated calls of a task get name, name-2, name-3, ...; a name that is
// taken, by a task so named or by an earlier repeat, is never given twice.
func TestUniqueName(t *testing.T) {
	b := &builder{counts: map[string]*int{}}
	steps := []struct{ task, want string }{
		{"a", "a"},
		{"a", "a-2"},
		{"a-2", "a-2-2"}, // a task named a-2: a-2 is taken by a's repeat
		{"a-3", "a-3"},
		{"a", "a-4"}, // a-3 is the task named so
		{"a-2", "a-2-3"},
		{"b-1", "b-1"},
		{"b", "b"},
		{"b", "b-2"},
		{"a-03", "a-03"}, // never a repeat's name
		{"a-4", "a-4-2"},
		{"a-2-2", "a-2-2-2"},
		{"a-0", "a-0"},
		{"a-1", "a-1"},
		{"a", "a-5"},
		{"x-", "x-"},
		{"x", "x"},
		{"x", "x-2"},
	}
	seen := map[string]bool{}
	for i, s := range steps {
		got := b.uniqueName(s.task)
		if got != s.want {
			t.Errorf("call %d of %q: got %q, want %q", i+1, s.task, got, s.want)
		}
		if seen[got] {
			t.Errorf("call %d of %q: %q given twice", i+1, s.task, got)
		}
		seen[got] = true
	}
}

// uniqueNameRef is the plain definition: the first of name, name-2, ...
// not given yet.
type uniqueNameRef struct {
	counts map[string]int
	used   map[string]bool
}

func (r *uniqueNameRef) name(name string) string {
	for {
		r.counts[name]++
		n := name
		if c := r.counts[name]; c > 1 {
			n = name + "-" + strconv.Itoa(c)
		}
		if !r.used[n] {
			r.used[n] = true
			return n
		}
	}
}

// uniqueName gives the names the plain definition gives, for random
// sequences of task names made to clash.
func TestUniqueNameAsDefined(t *testing.T) {
	names := []string{"a", "a-2", "a-3", "a-2-2", "a-2-3", "a-4-2", "a-02", "a-1", "b", "b-2", "b-", "-2", "2", "a-b", "a-b-2"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		b := &builder{counts: map[string]*int{}}
		ref := &uniqueNameRef{counts: map[string]int{}, used: map[string]bool{}}
		var seq []string
		for range 60 {
			task := names[rng.IntN(len(names))]
			seq = append(seq, task)
			if got, want := b.uniqueName(task), ref.name(task); got != want {
				t.Fatalf("round %d, calls %q: got %q, want %q", round, seq, got, want)
			}
		}
	}
}
