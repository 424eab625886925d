package builtins

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// FuzzFlowBody builds and runs random flow bodies: task calls and .map()
// over lists, dicts, tuples, structs and task results, unmapped(),
// upstream_tasks, nested containers, and lists and dicts changed after
// they were passed. Whatever the body, building and running it must not
// panic (no "internal error"); every task body must receive only
// concrete values, never a TaskRef, and its arguments as they were at the
// call (task results aside); a .map() must have one child per element
// its list had at the call.
//
//	go test -run '^$' -fuzz=FuzzFlowBody ./builtins/
func FuzzFlowBody(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{1, 2, 0, 3, 0, 1, 2},                // r = a.map(l0); l0.append(r)
		{0, 2, 0, 3, 0, 1, 2},                // a(l0); l0.append(a(...))
		{1, 2, 0, 3, 0, 0, 1},                // a.map(l0); l0.append(1)
		{5, 0, 1, 2, 0, 3, 0, 4, 1, 2, 0},    // a list mapped, then changed
		{6, 1, 0, 4, 0, 1, 9, 7, 0, 1, 2, 3}, // a dict under unmapped(), then changed
		{0, 4, 8, 0, 1, 7, 1, 0, 2, 5, 3, 1, 9, 9, 9, 0},
		{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := genFlowBody(data)
		fz := newFuzzChecks()
		e := newEnv(".", LoadOptions{Print: func(string) {}})
		maps.Copy(e.predeclared, fz.builtins())
		thread := &starlark.Thread{Name: "fuzz", Print: func(*starlark.Thread, string) {}}
		_, err := e.execSource(thread, "fuzz.star", []byte(src))
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("%v\nin\n%s", err, src)
		}
		if len(fz.problems) > 0 {
			t.Fatalf("%s\nin\n%s", strings.Join(fz.problems, "\n"), src)
		}
	})
}

// fuzzChecks are the Go side of a fuzzed flow file: what the flow body
// passed at each call, and what the task bodies received.
type fuzzChecks struct {
	mu       sync.Mutex
	shapes   map[int]*argShape // by call id: the arguments as they were at the call
	children map[string]int    // by mapped node: its elements at the call
	problems []string
}

func newFuzzChecks() *fuzzChecks {
	return &fuzzChecks{shapes: map[int]*argShape{}, children: map[string]int{}}
}

func (fz *fuzzChecks) problem(format string, args ...any) {
	fz.mu.Lock()
	fz.problems = append(fz.problems, fmt.Sprintf(format, args...))
	fz.mu.Unlock()
}

func (fz *fuzzChecks) builtins() starlark.StringDict {
	fn := func(name string, f func(args starlark.Tuple, kwargs []starlark.Tuple) starlark.Value) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return f(args, kwargs), nil
		})
	}
	return starlark.StringDict{
		// snap(id, [args]) records the arguments of call id as they are
		// now, in the flow body.
		"snap": fn("snap", func(args starlark.Tuple, _ []starlark.Tuple) starlark.Value {
			id, _ := starlark.AsInt32(args[0])
			budget := 2000
			sh := shapeOf(args[1], 0, &budget)
			fz.mu.Lock()
			fz.shapes[id] = sh
			fz.mu.Unlock()
			return starlark.None
		}),
		// expect(name, x) records that mapped node name maps over x as it
		// is now.
		"expect": fn("expect", func(args starlark.Tuple, _ []starlark.Tuple) starlark.Value {
			name, _ := starlark.AsString(args[0])
			if s, ok := args[1].(starlark.Sequence); ok {
				if _, ref := args[1].(*TaskRef); !ref {
					fz.mu.Lock()
					fz.children[name] = s.Len()
					fz.mu.Unlock()
				}
			}
			return starlark.None
		}),
		// check(*args, __id=id, **kwargs) is the task body: no TaskRef
		// anywhere, and the arguments as they were at the call.
		"check": fn("check", func(args starlark.Tuple, kwargs []starlark.Tuple) starlark.Value {
			got := []starlark.Value{}
			got = append(got, args...)
			id := -1
			for _, kv := range kwargs {
				if k, _ := starlark.AsString(kv[0]); k == "__id" {
					id, _ = starlark.AsInt32(kv[1])
					continue
				}
				got = append(got, kv[1])
			}
			walkRefs(starlark.NewList(got), func(r *TaskRef) { fz.problem("a task body received %s", r.what()) })
			fz.mu.Lock()
			want := fz.shapes[id]
			fz.mu.Unlock()
			if want != nil && !want.matches(starlark.NewList(got)) {
				fz.problem("call %d: a task body received %s, want %s as at the call", id, starlark.NewList(got), want)
			}
			return args
		}),
		// states(names) checks each mapped node's children.
		"states": fn("states", func(args starlark.Tuple, _ []starlark.Tuple) starlark.Value {
			count := map[string]int{}
			for x := range args[0].(*starlark.List).Elements() {
				name, _ := starlark.AsString(x)
				if i := strings.LastIndexByte(name, '['); i > 0 {
					count[name[:i]]++
				}
			}
			for name, want := range fz.children {
				if count[name] != want {
					fz.problem("%s has %d children, want %d: the elements at the call", name, count[name], want)
				}
			}
			return starlark.None
		}),
	}
}

// An argShape is a value as the flow body passed it, with task results as
// wildcards.
type argShape struct {
	kind  string // "ref", "list", "tuple", "dict", "struct", or "" for a leaf
	leaf  string
	keys  []string
	elems []*argShape
}

// shapeOf records v, or returns nil when it is too large or deep to
// record (then nothing is checked).
func shapeOf(v starlark.Value, depth int, budget *int) *argShape {
	*budget--
	if *budget < 0 || depth > 20 {
		return nil
	}
	sub := func(xs ...starlark.Value) ([]*argShape, bool) {
		out := make([]*argShape, len(xs))
		for i, x := range xs {
			if out[i] = shapeOf(x, depth+1, budget); out[i] == nil {
				return nil, false
			}
		}
		return out, true
	}
	switch v := v.(type) {
	case *TaskRef:
		return &argShape{kind: "ref"}
	case *starlark.List:
		elems, ok := sub(slices.Collect(v.Elements())...)
		if !ok {
			return nil
		}
		return &argShape{kind: "list", elems: elems}
	case starlark.Tuple:
		elems, ok := sub(v...)
		if !ok {
			return nil
		}
		return &argShape{kind: "tuple", elems: elems}
	case *starlark.Dict:
		sh := &argShape{kind: "dict"}
		for k, x := range v.Entries() {
			e, ok := sub(x)
			if !ok {
				return nil
			}
			sh.keys, sh.elems = append(sh.keys, k.String()), append(sh.elems, e[0])
		}
		return sh
	case *starlarkstruct.Struct:
		sh := &argShape{kind: "struct"}
		for _, name := range v.AttrNames() {
			x, _ := v.Attr(name)
			e, ok := sub(x)
			if !ok {
				return nil
			}
			sh.keys, sh.elems = append(sh.keys, name), append(sh.elems, e[0])
		}
		return sh
	}
	return &argShape{leaf: v.String()}
}

// matches reports whether v has shape s, any value matching a wildcard.
func (s *argShape) matches(v starlark.Value) bool {
	switch s.kind {
	case "ref":
		return true
	case "list", "tuple":
		var elems []starlark.Value
		switch v := v.(type) {
		case *starlark.List:
			if s.kind != "list" {
				return false
			}
			elems = slices.Collect(v.Elements())
		case starlark.Tuple:
			if s.kind != "tuple" {
				return false
			}
			elems = v
		default:
			return false
		}
		if len(elems) != len(s.elems) {
			return false
		}
		for i, e := range s.elems {
			if !e.matches(elems[i]) {
				return false
			}
		}
		return true
	case "dict":
		d, ok := v.(*starlark.Dict)
		if !ok || d.Len() != len(s.keys) {
			return false
		}
		i := 0
		for k, x := range d.Entries() {
			if k.String() != s.keys[i] || !s.elems[i].matches(x) {
				return false
			}
			i++
		}
		return true
	case "struct":
		st, ok := v.(*starlarkstruct.Struct)
		if !ok || len(st.AttrNames()) != len(s.keys) {
			return false
		}
		for i, name := range s.keys {
			x, err := st.Attr(name)
			if err != nil || !s.elems[i].matches(x) {
				return false
			}
		}
		return true
	}
	return v.String() == s.leaf
}

func (s *argShape) String() string {
	switch s.kind {
	case "ref":
		return "<task result>"
	case "list", "tuple", "dict", "struct":
		parts := make([]string, len(s.elems))
		for i, e := range s.elems {
			parts[i] = e.String()
			if s.keys != nil {
				parts[i] = s.keys[i] + ": " + parts[i]
			}
		}
		return s.kind + "(" + strings.Join(parts, ", ") + ")"
	}
	return s.leaf
}

// genFlowBody turns data into a flow file: a statement per few bytes.
func genFlowBody(data []byte) string {
	g := &bodyGen{data: data, calls: 1} // the prologue's a(1)
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
states(list(r.states.keys()))
`)
	return b.String()
}

type bodyGen struct {
	data  []byte
	i     int
	refs  int // v0 .. v(refs+1) are task results
	calls int // calls of task a so far: its nodes are a, a-2, a-3, ...
}

// nextA is the name the next call of task a gets.
func (g *bodyGen) nextA() string {
	g.calls++
	if g.calls == 1 {
		return "a"
	}
	return fmt.Sprintf("a-%d", g.calls)
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
		// snap records the argument as it is at the call.
		x, id := g.expr(2), g.calls+1
		g.nextA()
		return fmt.Sprintf("snap(%d, [%s]); ", id, x) + g.call(fmt.Sprintf("a(%s, __id=%d)", x, id))
	case 1:
		x := g.expr(2)
		return fmt.Sprintf("expect(%q, %s); ", g.nextA(), x) + g.call("a.map("+x+")")
	case 2:
		x := g.expr(2)
		return fmt.Sprintf("expect(%q, %s); ", g.nextA(), x) + g.call("a.map("+x+", unmapped("+g.expr(2)+"))")
	case 3:
		return g.list() + ".append(" + g.expr(2) + ")"
	case 4:
		return g.dict() + "[\"k" + fmt.Sprint(g.next(3)) + "\"] = " + g.expr(2)
	case 5:
		return g.list() + " = [" + g.expr(2) + ", " + g.expr(2) + "]"
	case 6:
		return g.dict() + " = {\"k\": " + g.expr(2) + "}"
	case 7:
		x, k, id := g.expr(1), g.expr(2), g.calls+1
		g.nextA()
		return fmt.Sprintf("snap(%d, [%s, %s]); ", id, x, k) + g.call(fmt.Sprintf("a(%s, k=%s, __id=%d, upstream_tasks=[%s])", x, k, id, g.ref()))
	case 8:
		return g.list() + ".extend([" + g.expr(1) + ", " + g.expr(1) + "])"
	case 9:
		return g.list() + ".insert(0, " + g.expr(2) + ")"
	case 10:
		g.nextA()
		return g.call("a.map(" + g.ref() + ", " + g.list() + ")")
	}
	return g.dict() + ".update(" + g.dict() + ")"
}
