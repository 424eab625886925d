package builtins

import (
	"testing"

	"go.starlark.net/starlark"
)

// BenchmarkCallArgs measures building a flow of 1,000 task calls, each
// given the same 1,000-element list and dict, and a .map() over the list:
// arguments are copied at each call.
//
//	go test -run '^$' -bench CallArgs -benchmem ./builtins/
func BenchmarkCallArgs(b *testing.B) {
	src := []byte(`
@task
def a(xs, d):
    return len(xs)

@flow
def f():
    l = list(range(1000))
    d = {str(i): i for i in range(1000)}
    for i in range(1000):
        a(l, d)
    a.map(l, unmapped(d))
`)
	e := newEnv(".", LoadOptions{Print: func(string) {}})
	globals, err := e.execSource(&starlark.Thread{}, "bench.star", src)
	if err != nil {
		b.Fatal(err)
	}
	f := globals["f"].(*Flow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Build(BuildOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
