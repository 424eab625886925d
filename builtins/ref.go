package builtins

import (
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
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
	if !refTypeRE.MatchString(msg) || strings.Contains(msg, branchHint) {
		return msg
	}
	return msg + ": in a flow body a task result or parameter is a node of the flow, not a value; " + branchHint
}

var refTypeRE = regexp.MustCompile(`(task result|parameter) "[^"]*"`)

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

// walkRefs calls f for every TaskRef in v, looking inside lists, tuples and
// dicts.
func walkRefs(v starlark.Value, f func(*TaskRef)) {
	switch v := v.(type) {
	case *TaskRef:
		f(v)
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			walkRefs(v.Index(i), f)
		}
	case starlark.Tuple:
		for _, x := range v {
			walkRefs(x, f)
		}
	case *starlark.Dict:
		for _, kv := range v.Items() {
			walkRefs(kv[0], f)
			walkRefs(kv[1], f)
		}
	case *unmappedValue:
		walkRefs(v.v, f)
	}
}

func hasRefs(v starlark.Value) bool {
	found := false
	walkRefs(v, func(*TaskRef) { found = true })
	return found
}

// template returns v with each TaskRef replaced by a placeholder for input
// slot(ref) of the node being built. A value without TaskRefs is shared,
// not copied.
func template(v starlark.Value, slot func(*TaskRef) int) starlark.Value {
	if !hasRefs(v) {
		return v
	}
	return mapRefs(v, func(r *TaskRef) starlark.Value {
		if r.slot > 0 {
			return r
		}
		return &TaskRef{b: r.b, id: r.id, name: r.name, param: r.param, slot: slot(r) + 1}
	})
}

// substitute returns a template with each placeholder replaced by the
// value of its input.
func substitute(v starlark.Value, inputs []runtime.Value) starlark.Value {
	return mapRefs(v, func(r *TaskRef) starlark.Value { return toStarlark(inputs[r.slot-1]) })
}

// mapRefs returns a copy of v, looking inside lists, tuples, dicts and
// unmapped(), with each TaskRef r replaced by f(r).
func mapRefs(v starlark.Value, f func(*TaskRef) starlark.Value) starlark.Value {
	switch v := v.(type) {
	case *TaskRef:
		return f(v)
	case *starlark.List:
		elems := make([]starlark.Value, v.Len())
		for i := range elems {
			elems[i] = mapRefs(v.Index(i), f)
		}
		return starlark.NewList(elems)
	case starlark.Tuple:
		elems := make(starlark.Tuple, len(v))
		for i, x := range v {
			elems[i] = mapRefs(x, f)
		}
		return elems
	case *starlark.Dict:
		d := starlark.NewDict(v.Len())
		for _, kv := range v.Items() {
			_ = d.SetKey(mapRefs(kv[0], f), mapRefs(kv[1], f))
		}
		return d
	case *unmappedValue:
		return mapRefs(v.v, f)
	}
	return v
}
