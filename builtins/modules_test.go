package builtins

import (
	"fmt"
	"strings"
	"sync"
	"testing"

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

// An alias to an anchor yields the anchor's value, and a document whose
// aliases of aliases stand for more values than fit (10^31 here) is
// refused, naming the line, without expanding it.
func TestYAMLDecodeAliasesBounded(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&doc, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
			i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	fn := ExtraBuiltins()["yaml"].(starlark.HasAttrs)
	decode, _ := fn.Attr("decode")
	_, err := starlark.Call(new(starlark.Thread), decode, starlark.Tuple{starlark.String(doc.String())}, nil)
	if err == nil || !strings.Contains(err.Error(), "yaml.decode: line 6: the document stands for more than 1048576 values once its aliases are expanded") {
		t.Errorf("yaml.decode: %v, want the expansion refused at line 6", err)
	}
	v := call(t, new(starlark.Thread), "yaml.decode", starlark.String("a: &a [1, 2]\nb: *a\n"))
	a, _, _ := v.(*starlark.Dict).Get(starlark.String("a"))
	b, _, _ := v.(*starlark.Dict).Get(starlark.String("b"))
	if a != b {
		t.Errorf("an alias gives a copy of its anchor's value, want the value itself")
	}
}
