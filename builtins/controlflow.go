package builtins

import (
	"context"
	"fmt"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// triggerValue is a trigger as a Starlark value (all_successful, ...).
type triggerValue struct{ t runtime.Trigger }

func (t *triggerValue) String() string        { return t.t.Name }
func (t *triggerValue) Type() string          { return "trigger" }
func (t *triggerValue) Freeze()               {}
func (t *triggerValue) Truth() starlark.Bool  { return true }
func (t *triggerValue) Hash() (uint32, error) { return starlark.String(t.t.Name).Hash() }

func triggerValues() starlark.StringDict {
	d := starlark.StringDict{}
	for _, t := range runtime.Triggers {
		d[t.Name] = &triggerValue{t}
	}
	return d
}

// buildOnly returns the builder, or an error naming the builtin when the
// thread is not building a flow.
func buildOnly(thread *starlark.Thread, name string) (*builder, error) {
	if b := builderOf(thread); b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("%s: only inside a @flow function body", name)
}

func refArg(name, arg string, v starlark.Value) (*TaskRef, error) {
	r, ok := v.(*TaskRef)
	if !ok {
		return nil, fmt.Errorf("%s: %s must be a task result or parameter, got %s", name, arg, v.Type())
	}
	return r, nil
}

// branchArg checks that a branch of ifelse/switch is a task node.
func branchArg(name string, v starlark.Value) (*TaskRef, error) {
	r, err := refArg(name, "each branch", v)
	if err == nil && r.param {
		err = fmt.Errorf("%s: a branch must be a task result, not parameter %q", name, r.name)
	}
	return r, err
}

// ifelse(cond, true_ref, false_ref) runs one branch by the truth of cond.
func ifelse(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	bd, err := buildOnly(thread, b.Name())
	if err != nil {
		return nil, err
	}
	var cond, yes, no starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cond", &cond, "true_task", &yes, "false_task", &no); err != nil {
		return nil, err
	}
	c, err := refArg(b.Name(), "cond", cond)
	if err != nil {
		return nil, err
	}
	for _, br := range []struct {
		v    starlark.Value
		want bool
	}{{yes, true}, {no, false}} {
		r, err := branchArg(b.Name(), br.v)
		if err != nil {
			return nil, err
		}
		want := br.want
		bd.guard(r, runtime.Guard{Cond: c.id, Label: fmt.Sprintf("is %v", starlark.Bool(want)),
			Match: func(v runtime.Value) (bool, error) { return bool(toStarlark(v).Truth()) == want, nil }})
	}
	return starlark.None, nil
}

// guard adds g to the node of r.
func (b *builder) guard(r *TaskRef, g runtime.Guard) {
	n := b.g.Nodes[r.id]
	n.Guards = append(n.Guards, g)
}

func equalGuard(cond runtime.NodeID, want starlark.Value) runtime.Guard {
	return runtime.Guard{Cond: cond, Label: "== " + want.String(),
		Match: func(v runtime.Value) (bool, error) { return starlark.Equal(toStarlark(v), want) }}
}

// switch_(cond, {value: ref, ...}) runs the branch whose key equals cond.
func switch_(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	bd, err := buildOnly(thread, b.Name())
	if err != nil {
		return nil, err
	}
	var cond starlark.Value
	var cases *starlark.Dict
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cond", &cond, "cases", &cases); err != nil {
		return nil, err
	}
	c, err := refArg(b.Name(), "cond", cond)
	if err != nil {
		return nil, err
	}
	for _, kv := range cases.Items() {
		r, err := branchArg(b.Name(), kv[1])
		if err != nil {
			return nil, err
		}
		key := kv[0]
		key.Freeze()
		bd.guard(r, equalGuard(c.id, key))
	}
	return starlark.None, nil
}

// case_(cond, value, fn) calls fn now; every node it adds runs only when
// cond's result equals value.
func case_(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	bd, err := buildOnly(thread, b.Name())
	if err != nil {
		return nil, err
	}
	var cond, value starlark.Value
	var fn starlark.Callable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cond", &cond, "value", &value, "fn", &fn); err != nil {
		return nil, err
	}
	c, err := refArg(b.Name(), "cond", cond)
	if err != nil {
		return nil, err
	}
	if hasRefs(value) {
		return nil, fmt.Errorf("case: value must be a constant to compare with, not a task result")
	}
	// Taken at the call, as a task's arguments are: the flow body may
	// change its list afterwards.
	if value, err = template(value, nil); err != nil {
		return nil, fmt.Errorf("case: %v", err)
	}
	value.Freeze()
	pos, before := callerPos(thread), len(bd.g.Nodes)
	bd.guards = append(bd.guards, equalGuard(c.id, value))
	res, err := starlark.Call(thread, fn, nil, nil)
	bd.guards = bd.guards[:len(bd.guards)-1]
	if err != nil {
		return nil, err
	}
	if len(bd.g.Nodes) == before {
		bd.errs.Add(pos, "case: %s builds no task; call tasks inside it", fn.Name())
	}
	return res, nil
}

// merge(*refs) returns the result of the first branch that ran: the join of
// ifelse/switch branches, as in Prefect.
func merge(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	bd, err := buildOnly(thread, b.Name())
	if err != nil {
		return nil, err
	}
	if len(kwargs) > 0 || len(args) == 0 {
		return nil, fmt.Errorf("merge: want one or more task results, and no keyword arguments")
	}
	n := &runtime.Node{Name: bd.uniqueName("merge"), Task: "merge", Pos: callerPos(thread),
		Trigger: notAllSkipped}
	n.DefPos = n.Pos
	for _, a := range args {
		r, err := refArg(b.Name(), "each argument", a)
		if err != nil {
			return nil, err
		}
		n.Inputs = append(n.Inputs, runtime.Input{From: r.id})
	}
	n.Body = runtime.BodyFunc(mergeBody)
	return bd.add(n), nil
}

var notAllSkipped = runtime.Trigger{Name: "not_all_skipped", AcceptsSkip: true,
	Fn: func(up []runtime.State) bool { return !anyFailed(up) }}

func anyFailed(up []runtime.State) bool {
	for _, s := range up {
		if s.IsFailed() {
			return true
		}
	}
	return false
}

func mergeBody(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
	for _, v := range c.Inputs {
		if v != nil && v != starlark.None {
			return v, nil
		}
	}
	return nil, &runtime.Signal{State: runtime.Skipped, Msg: "every merged branch was skipped"}
}
