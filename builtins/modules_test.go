package builtins

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

func TestExtraBuiltinsNames(t *testing.T) {
	env := ExtraBuiltins()
	for _, name := range []string{"sum", "json", "yaml", "time", "math", "random", "struct"} {
		if _, ok := env[name]; !ok {
			t.Errorf("ExtraBuiltins has no %s", name)
		}
	}
	delete(env, "sum")
	if _, ok := ExtraBuiltins()["sum"]; !ok {
		t.Error("ExtraBuiltins returned a shared dict")
	}
}

// call runs a member of an ExtraBuiltins module, such as "random.randint".
func call(t *testing.T, thread *starlark.Thread, name string, args ...starlark.Value) starlark.Value {
	t.Helper()
	mod, member, _ := strings.Cut(name, ".")
	fn, err := ExtraBuiltins()[mod].(starlark.HasAttrs).Attr(member)
	if err != nil {
		t.Fatal(err)
	}
	v, err := starlark.Call(thread, fn, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func draws(t *testing.T, thread *starlark.Thread) string {
	var out []string
	for range 5 {
		out = append(out, call(t, thread, "random.randint", starlark.MakeInt(0), starlark.MakeInt(1<<30)).String())
	}
	return strings.Join(out, " ")
}

func TestRandomIsPerThread(t *testing.T) {
	a, b := new(starlark.Thread), new(starlark.Thread)
	call(t, a, "random.seed", starlark.MakeInt(7))
	call(t, b, "random.seed", starlark.MakeInt(7))
	first := draws(t, a)
	call(t, new(starlark.Thread), "random.seed", starlark.MakeInt(8)) // another thread's seed
	if second := draws(t, b); second != first {
		t.Errorf("same seed on two threads gave %s and %s", first, second)
	}
	if draws(t, new(starlark.Thread)) == draws(t, new(starlark.Thread)) {
		t.Error("two unseeded threads drew the same numbers")
	}
}

// Tasks run on many goroutines, each with its own thread: run with -race.
func TestRandomConcurrentThreads(t *testing.T) {
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Go(func() {
			thread := &starlark.Thread{Name: fmt.Sprint(i)}
			call(t, thread, "random.seed", starlark.MakeInt(1))
			results[i] = draws(t, thread)
		})
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Errorf("seeded threads diverged: %s vs %s", r, results[0])
		}
	}
}

// An alias to an anchor yields the anchor's value: nested aliases must not
// be expanded again and again.
func TestYAMLDecodeAliasesStayLinear(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&doc, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
			i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	start := time.Now()
	v := call(t, new(starlark.Thread), "yaml.decode", starlark.String(doc.String()))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("yaml.decode took %v", d)
	}
	if n := v.(*starlark.Dict).Len(); n != 31 {
		t.Errorf("got %d keys, want 31", n)
	}
}
