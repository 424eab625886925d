package builtins

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
)

// FuzzFlowBody builds and runs random flow bodies: task calls and .map()
// over lists, dicts, tuples, structs and task results, unmapped(),
// upstream_tasks, nested containers, and lists and dicts changed after
// they were passed. Whatever the body, building and running it must not
// panic (no "internal error"), and every task body must receive only
// concrete values, never a TaskRef.
//
//	go test -run '^$' -fuzz=FuzzFlowBody ./builtins/
func FuzzFlowBody(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{1, 2, 0, 3, 0, 1, 2},                // r = a.map(l0); l0.append(r)
		{0, 2, 0, 3, 0, 1, 2},                // a(l0); l0.append(a(...))
		{5, 0, 1, 2, 0, 3, 0, 4, 1, 2, 0},    // a list mapped, then changed
		{6, 1, 0, 4, 0, 1, 9, 7, 0, 1, 2, 3}, // a dict under unmapped(), then changed
		{0, 4, 8, 0, 1, 7, 1, 0, 2, 5, 3, 1, 9, 9, 9, 0},
		{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := genFlowBody(data)
		var mu sync.Mutex
		var leaks []string
		check := starlark.NewBuiltin("check", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			all := starlark.Tuple{args}
			for _, kv := range kwargs {
				all = append(all, kv[1])
			}
			walkRefs(all, func(r *TaskRef) {
				mu.Lock()
				leaks = append(leaks, r.what())
				mu.Unlock()
			})
			return args, nil
		})
		e := newEnv(".", LoadOptions{Print: func(string) {}})
		maps.Copy(e.predeclared, starlark.StringDict{"check": check})
		thread := &starlark.Thread{Name: "fuzz", Print: func(*starlark.Thread, string) {}}
		_, err := e.execSource(thread, "fuzz.star", []byte(src))
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("%v\nin\n%s", err, src)
		}
		if len(leaks) > 0 {
			t.Fatalf("task bodies received %s\nin\n%s", strings.Join(leaks, ", "), src)
		}
	})
}

// genFlowBody turns data into a flow file: a statement per few bytes.
func genFlowBody(data []byte) string {
	g := &bodyGen{data: data}
	var b strings.Builder
	b.WriteString(`@task
def a(*args, **kwargs):
    return check(*args, **kwargs)

@task
def n():
    return [1, 2, 3]

@flow
def f():
    l0 = [1]
    l1 = []
    d0 = {"k": 1}
    d1 = {}
    v0 = n()
    v1 = a(1)
`)
	for i := 0; i < 40 && g.more(); i++ {
		b.WriteString("    " + g.stmt() + "\n")
	}
	b.WriteString(`    return None

r = f.run()
for name, s in r.states.items():
    if s.message and "internal error" in s.message:
        fail(name + ": " + s.message)
`)
	return b.String()
}

type bodyGen struct {
	data []byte
	i    int
	refs int // v0 .. v(refs+1) are task results
}

func (g *bodyGen) more() bool { return g.i < len(g.data) }

func (g *bodyGen) next(n int) int {
	if g.i >= len(g.data) {
		return 0
	}
	c := int(g.data[g.i]) % n
	g.i++
	return c
}

func (g *bodyGen) ref() string  { return fmt.Sprintf("v%d", g.next(g.refs+2)) }
func (g *bodyGen) list() string { return fmt.Sprintf("l%d", g.next(2)) }
func (g *bodyGen) dict() string { return fmt.Sprintf("d%d", g.next(2)) }

// expr is an argument: a constant, a result, a container, nested up to
// depth levels.
func (g *bodyGen) expr(depth int) string {
	k := g.next(9)
	if depth <= 0 {
		k %= 4
	}
	switch k {
	case 0:
		return fmt.Sprint(g.next(5))
	case 1:
		return g.ref()
	case 2:
		return g.list()
	case 3:
		return g.dict()
	case 4:
		return "[" + g.expr(depth-1) + ", " + g.expr(depth-1) + "]"
	case 5:
		return "{\"x\": " + g.expr(depth-1) + "}"
	case 6:
		return "(" + g.expr(depth-1) + ",)"
	case 7:
		return "struct(s=" + g.expr(depth-1) + ")"
	}
	return "[" + g.ref() + "]"
}

func (g *bodyGen) call(call string) string {
	g.refs++
	return fmt.Sprintf("v%d = %s", g.refs+1, call)
}

func (g *bodyGen) stmt() string {
	switch g.next(12) {
	case 0:
		return g.call("a(" + g.expr(2) + ")")
	case 1:
		return g.call("a.map(" + g.expr(2) + ")")
	case 2:
		return g.call("a.map(" + g.expr(2) + ", unmapped(" + g.expr(2) + "))")
	case 3:
		return g.list() + ".append(" + g.expr(2) + ")"
	case 4:
		return g.dict() + "[\"k" + fmt.Sprint(g.next(3)) + "\"] = " + g.expr(2)
	case 5:
		return g.list() + " = [" + g.expr(2) + ", " + g.expr(2) + "]"
	case 6:
		return g.dict() + " = {\"k\": " + g.expr(2) + "}"
	case 7:
		return g.call("a(" + g.expr(1) + ", k=" + g.expr(2) + ", upstream_tasks=[" + g.ref() + "])")
	case 8:
		return g.list() + ".extend([" + g.expr(1) + ", " + g.expr(1) + "])"
	case 9:
		return g.list() + ".insert(0, " + g.expr(2) + ")"
	case 10:
		return g.call("a.map(" + g.ref() + ", " + g.list() + ")")
	}
	return g.dict() + ".update(" + g.dict() + ")"
}
