package builtins

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

// TaskRef stands, in a flow body, for the result a node will have at run
// time. Passing it to a task makes a data edge; using it as a value is an
// error, because the value does not exist yet.
type TaskRef struct {
	b      *builder
	id     runtime.NodeID
	name   string
	param  bool
	mapped bool
	// slot, when positive, makes this a placeholder in an argument
	// template: it stands for input slot-1 of the node being built (for a
	// .map argument, the child's own element).
	slot int
}

var (
	_ starlark.HasBinary = (*TaskRef)(nil)
	_ starlark.HasUnary  = (*TaskRef)(nil)
)

const branchHint = "to branch on a result use ifelse(), switch() or case(); to compute with it, do so inside a task"

func (r *TaskRef) what() string {
	if r.param {
		return fmt.Sprintf("parameter %q", r.name)
	}
	return fmt.Sprintf("the result of task %q", r.name)
}

// misuseMsg explains why a TaskRef cannot be used as a value.
func (r *TaskRef) misuseMsg(use string) string {
	kind := "a task result exists only when the flow runs"
	if r.param {
		kind = "parameters are nodes of the flow, their values exist only when it runs"
	}
	return fmt.Sprintf("cannot use %s as a value (%s) in a flow body: %s; %s", r.what(), use, kind, branchHint)
}

// String reports a misuse: str(), print() and "%s" % ref all end here.
func (r *TaskRef) String() string {
	r.b.misuse(r.misuseMsg("str"))
	return "<" + r.what() + ">"
}

// Truth reports a misuse: `if ref:`, `not ref`, `ref and x`.
func (r *TaskRef) Truth() starlark.Bool {
	r.b.misuse(r.misuseMsg("truth"))
	return false
}

// Type names the node, so that Starlark's own messages ("got parameter
// \"n\", want int") say which value was misused.
func (r *TaskRef) Type() string {
	if r.param {
		return fmt.Sprintf("parameter %q", r.name)
	}
	return fmt.Sprintf("task result %q", r.name)
}
func (r *TaskRef) Freeze() {}
func (r *TaskRef) Hash() (uint32, error) {
	return 0, fmt.Errorf("%s", r.misuseMsg("dict key or set element"))
}

func (r *TaskRef) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	return nil, fmt.Errorf("%s", r.misuseMsg("operator "+op.String()))
}

func (r *TaskRef) Unary(op syntax.Token) (starlark.Value, error) {
	return nil, fmt.Errorf("%s", r.misuseMsg("operator "+op.String()))
}

// explainTaskRef adds the TaskRef hint to Starlark's own errors about a
// taskref ("len: value of type taskref has no len", "got taskref, want
// iterable", ...).
func explainTaskRef(msg string) string {
	if !refTypeRE().MatchString(forParamRE().ReplaceAllString(msg, "")) || strings.Contains(msg, branchHint) {
		return msg
	}
	return msg + ": in a flow body a task result or parameter is a node of the flow, not a value; " + branchHint
}

// refTypeRE and forParamRE are compiled on first use, not at every wfsh
// start.
var refTypeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(task result|parameter) "[^"]*"`) })

// forParamRE matches Starlark's naming of the parameter a bad argument was
// given for ("task: for parameter \"timeout\": bad duration"), which is
// not a flow parameter.
var forParamRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`for parameter "[^"]*"`) })

// unmappedValue marks a .map argument passed whole to every child.
type unmappedValue struct{ v starlark.Value }

func (u *unmappedValue) String() string        { return "unmapped(...)" }
func (u *unmappedValue) Type() string          { return "unmapped" }
func (u *unmappedValue) Freeze()               { u.v.Freeze() }
func (u *unmappedValue) Truth() starlark.Bool  { return true }
func (u *unmappedValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: unmapped") }

func unmapped(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	return &unmappedValue{v}, nil
}

// walkRefs calls f for every TaskRef in v, looking inside lists, tuples,
// dicts, structs and unmapped(). A container is looked at once however
// often it is shared, and one that holds itself is not followed.
func walkRefs(v starlark.Value, f func(*TaskRef)) {
	w := refWalker{f: f}
	w.walk(v)
}

type refWalker struct {
	f    func(*TaskRef)
	seen map[any]bool
}

func (w *refWalker) walk(v starlark.Value) {
	switch v := v.(type) {
	case *TaskRef:
		w.f(v)
		return
	case starlark.String, starlark.Int, starlark.Float, starlark.Bool, starlark.NoneType, starlark.Bytes:
		return
	}
	key := containerKey(v)
	if key == nil {
		return
	}
	if w.seen == nil {
		w.seen = map[any]bool{}
	}
	if w.seen[key] {
		return
	}
	w.seen[key] = true
	switch v := v.(type) {
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			w.walk(v.Index(i))
		}
	case starlark.Tuple:
		for _, x := range v {
			w.walk(x)
		}
	case *starlark.Dict:
		for k, x := range v.Entries() {
			w.walk(k)
			w.walk(x)
		}
	case *starlarkstruct.Struct:
		for _, name := range v.AttrNames() {
			x, _ := v.Attr(name)
			w.walk(x)
		}
	case *unmappedValue:
		w.walk(v.v)
	}
}

// tupleKey identifies a tuple by its elements' array.
type tupleKey struct {
	first *starlark.Value
	n     int
}

// containerKey identifies a container that may hold a TaskRef, or is nil
// for any other value.
func containerKey(v starlark.Value) any {
	switch v := v.(type) {
	case *starlark.List, *starlark.Dict, *starlark.Set, *starlarkstruct.Struct, *unmappedValue:
		return v
	case starlark.Tuple:
		if len(v) == 0 {
			return nil
		}
		return tupleKey{&v[0], len(v)}
	}
	return nil
}

func hasRefs(v starlark.Value) bool {
	switch v.(type) { // the common arguments, without a walk
	case *TaskRef:
		return true
	case starlark.String, starlark.Int, starlark.Float, starlark.Bool, starlark.NoneType, starlark.Bytes:
		return false
	}
	found := false
	walkRefs(v, func(*TaskRef) { found = true })
	return found
}

// maxArgDepth bounds how deeply the containers of an argument nest.
const maxArgDepth = 1000

// template returns a snapshot of argument v taken at the call: lists,
// dicts, sets and structs are copied, so that the flow body changing them
// afterwards changes nothing the task receives, and each TaskRef is
// replaced by a placeholder for input slot(ref) of the node being built.
// Immutable values are shared; values of other types are frozen. Shared
// substructure stays shared; a container that holds itself is refused.
func template(v starlark.Value, slot func(*TaskRef) int) (starlark.Value, error) {
	switch r := v.(type) { // the common arguments, without a copier
	case *TaskRef:
		if r.slot > 0 {
			return r, nil
		}
		return &TaskRef{b: r.b, id: r.id, name: r.name, param: r.param, slot: slot(r) + 1}, nil
	case starlark.String, starlark.Int, starlark.Float, starlark.Bool, starlark.NoneType, starlark.Bytes:
		return v, nil
	}
	c := copier{snapshot: true, ref: func(r *TaskRef) (starlark.Value, error) {
		if r.slot > 0 {
			return r, nil
		}
		return &TaskRef{b: r.b, id: r.id, name: r.name, param: r.param, slot: slot(r) + 1}, nil
	}}
	out, _, err := c.copy(v, 0)
	return out, err
}

// substitute returns a template with each placeholder replaced by the
// value of its input. Containers without placeholders are shared. A
// TaskRef that is not a placeholder of one of inputs is an error: a task
// body never receives one.
func substitute(v starlark.Value, inputs []runtime.Value) (starlark.Value, error) {
	if r, ok := v.(*TaskRef); ok && r.slot > 0 && r.slot <= len(inputs) { // the common argument
		return toStarlark(inputs[r.slot-1]), nil
	}
	c := copier{ref: func(r *TaskRef) (starlark.Value, error) {
		if r.slot <= 0 || r.slot > len(inputs) {
			return nil, fmt.Errorf("internal error: %s reached a task's arguments unresolved; please report this as a bug", r.what())
		}
		return toStarlark(inputs[r.slot-1]), nil
	}}
	out, _, err := c.copy(v, 0)
	return out, err
}

// copier copies a value with each TaskRef replaced by ref(r). With
// snapshot set it copies every mutable container; otherwise only those
// that hold a TaskRef.
type copier struct {
	snapshot bool
	ref      func(*TaskRef) (starlark.Value, error)
	// done maps each container copied so far to its copy; nil while the
	// container is being copied (so meeting it again is a cycle).
	done map[any]starlark.Value
}

var errCycle = fmt.Errorf("an argument holds itself (a list or dict inside itself cannot be passed to a task)")

// copy returns the copy of v and whether it differs from v.
func (c *copier) copy(v starlark.Value, depth int) (starlark.Value, bool, error) {
	switch v := v.(type) {
	case *TaskRef:
		r, err := c.ref(v)
		return r, true, err
	case starlark.String, starlark.Int, starlark.Float, starlark.Bool, starlark.NoneType, starlark.Bytes:
		return v, false, nil
	case *unmappedValue:
		return c.copy(v.v, depth)
	}
	key := containerKey(v)
	if key == nil {
		if c.snapshot {
			v.Freeze()
		}
		return v, false, nil
	}
	if depth > maxArgDepth {
		return nil, false, fmt.Errorf("an argument nests containers more than %d deep", maxArgDepth)
	}
	if c.done == nil {
		c.done = map[any]starlark.Value{}
	}
	if out, ok := c.done[key]; ok {
		if out == nil {
			return nil, false, errCycle
		}
		_, same := out.(sameValue)
		if same {
			return v, false, nil
		}
		return out, true, nil
	}
	c.done[key] = nil
	out, changed, err := c.container(v, depth)
	if err != nil {
		return nil, false, err
	}
	changed = changed || c.snapshot
	if changed {
		c.done[key] = out
		return out, true, nil
	}
	c.done[key] = sameValue{}
	return v, false, nil
}

// sameValue marks, in copier.done, a container kept as it is.
type sameValue struct{ starlark.Value }

// container copies the elements of container v.
func (c *copier) container(v starlark.Value, depth int) (starlark.Value, bool, error) {
	changed := false
	elem := func(x starlark.Value) (starlark.Value, error) {
		y, ch, err := c.copy(x, depth+1)
		changed = changed || ch
		return y, err
	}
	switch v := v.(type) {
	case *starlark.List:
		elems := make([]starlark.Value, v.Len())
		for i := range elems {
			x, err := elem(v.Index(i))
			if err != nil {
				return nil, false, err
			}
			elems[i] = x
		}
		return starlark.NewList(elems), changed, nil
	case starlark.Tuple:
		elems := make(starlark.Tuple, len(v))
		for i, x := range v {
			y, err := elem(x)
			if err != nil {
				return nil, false, err
			}
			elems[i] = y
		}
		return elems, changed, nil
	case *starlark.Dict:
		d := starlark.NewDict(v.Len())
		for key, val := range v.Entries() {
			k, err := elem(key)
			if err != nil {
				return nil, false, err
			}
			x, err := elem(val)
			if err != nil {
				return nil, false, err
			}
			if err := d.SetKey(k, x); err != nil {
				return nil, false, err
			}
		}
		return d, changed, nil
	case *starlark.Set:
		// Set elements are hashable, so immutable: only the set is copied.
		s := starlark.NewSet(v.Len())
		iter := v.Iterate()
		defer iter.Done()
		var x starlark.Value
		for iter.Next(&x) {
			if err := s.Insert(x); err != nil {
				return nil, false, err
			}
		}
		return s, false, nil
	case *starlarkstruct.Struct:
		sd := starlark.StringDict{}
		for _, name := range v.AttrNames() {
			x, _ := v.Attr(name)
			y, err := elem(x)
			if err != nil {
				return nil, false, err
			}
			sd[name] = y
		}
		return starlarkstruct.FromStringDict(v.Constructor(), sd), changed, nil
	}
	return v, false, nil
}
