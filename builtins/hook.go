package builtins

import (
	"context"
	"errors"
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/wfsh/wfsh/runtime"
)

// hookDecl is one function given to @task(on_failure=[...]) or @flow(...).
type hookDecl struct {
	on runtime.HookOn
	fn starlark.Callable
}

// hookArgs are the hook keywords of @task(...) and @flow(...), unpacked.
type hookArgs [runtime.OnCancellation + 1]hookList

// Task runs have no on_cancellation hooks (a cancelled task run calls
// on_completion), flow runs no on_retry.
var (
	taskHookKinds = []runtime.HookOn{runtime.OnSuccess, runtime.OnFailure, runtime.OnCompletion, runtime.OnRetry}
	flowHookKinds = []runtime.HookOn{runtime.OnSuccess, runtime.OnFailure, runtime.OnCompletion, runtime.OnCancellation}
)

// pairs returns the UnpackArgs pairs of the keywords of kinds, after
// those of before.
func (a *hookArgs) pairs(kinds []runtime.HookOn, before ...any) []any {
	for _, on := range kinds {
		before = append(before, on.String()+"?", &a[on])
	}
	return before
}

// hookOrder is the order in which a state's hooks are called: those of
// its own kind before on_completion.
var hookOrder = []runtime.HookOn{runtime.OnSuccess, runtime.OnFailure, runtime.OnRetry, runtime.OnCancellation, runtime.OnCompletion}

// decls lists the hooks in hookOrder, each kind's as given.
func (a *hookArgs) decls() []hookDecl {
	var out []hookDecl
	for _, on := range hookOrder {
		for _, fn := range a[on] {
			out = append(out, hookDecl{on: on, fn: fn})
		}
	}
	return out
}

// hookList unpacks on_failure=[f, g]: a list or tuple of functions that can
// be called as f(task, task_run, state).
type hookList []starlark.Callable

func (l *hookList) Unpack(v starlark.Value) error {
	if _, ok := v.(starlark.Callable); ok {
		return fmt.Errorf("got a single %s; give a list of hooks: [%s]", v.Type(), clip(v.String()))
	}
	seq, ok := v.(starlark.Indexable)
	if _, isStr := v.(starlark.String); !ok || isStr {
		return fmt.Errorf("got %s, want a list of functions called as hook(task, task_run, state)", v.Type())
	}
	for i := range seq.Len() {
		x := seq.Index(i)
		fn, ok := x.(starlark.Callable)
		if !ok {
			return fmt.Errorf("element %d is %s %s, not a function", i, x.Type(), clip(x.String()))
		}
		if err := checkHookArity(fn); err != nil {
			return err
		}
		*l = append(*l, fn)
	}
	return nil
}

// checkHookArity refuses, at declaration, a function that could not be
// called with the three arguments every hook gets.
func checkHookArity(fn starlark.Callable) error {
	f, ok := fn.(*starlark.Function)
	if !ok {
		return nil
	}
	positional := f.NumParams() - f.NumKwonlyParams() - boolInt(f.HasVarargs()) - boolInt(f.HasKwargs())
	required := 0
	for i := range positional + f.NumKwonlyParams() {
		if f.ParamDefault(i) != nil {
			continue
		}
		if i >= positional { // keyword-only
			name, _ := f.Param(i)
			return fmt.Errorf("%s: keyword-only parameter %s needs a default; a hook is called with three positional arguments", f.Name(), name)
		}
		required++
	}
	if (positional < 3 && !f.HasVarargs()) || required > 3 {
		return fmt.Errorf("%s takes %d parameters; a hook is called as %s(task, task_run, state) (a flow's: %s(flow, flow_run, state))",
			f.Name(), positional, f.Name(), f.Name())
	}
	return nil
}

// runtimeHooks binds declared hooks to one run: target is the task or the
// flow the hooks are given as their first argument.
func runtimeHooks(decls []hookDecl, target starlark.Value, run *runInfo) []runtime.Hook {
	if len(decls) == 0 {
		return nil
	}
	out := make([]runtime.Hook, len(decls))
	for i, d := range decls {
		fn := d.fn
		out[i] = runtime.Hook{On: d.on, Name: fn.Name(), Fn: func(ctx context.Context, h *runtime.HookCall) error {
			return callHook(ctx, fn, target, run, h)
		}}
	}
	return out
}

// callHook calls fn(target, run, state) in a thread of its own that is a
// task run's, so that plugin functions (@notify), secret() and context
// work in it; print() goes to the run's log.
func callHook(ctx context.Context, fn starlark.Callable, target starlark.Value, run *runInfo, h *runtime.HookCall) error {
	tr := &taskRun{call: &h.Call, run: run, ctx: ctx}
	thread := &starlark.Thread{Name: "hook " + fn.Name(), Print: printToLog}
	thread.SetLocal(localTask, tr)
	stop := context.AfterFunc(ctx, func() { thread.Cancel(context.Cause(ctx).Error()) })
	defer stop()
	state := &StateValue{state: h.State, msg: h.Msg, result: toStarlark(h.Result)}
	_, err := starlark.Call(thread, fn, starlark.Tuple{target, runValue(h, run), state}, nil)
	if err == nil {
		return nil
	}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		h.Call.Log(runtime.Debug, ee.Backtrace())
	}
	return positioned(err)
}

// runValue is a hook's second argument: the task run (task_run.name,
// .id, .task_name, .map_index, .run_count, .flow_run_id, .flow_name), or
// for a flow hook the flow run (flow_run.id, .name, .parameters).
func runValue(h *runtime.HookCall, run *runInfo) starlark.Value {
	c := &h.Call
	if c.Node == nil {
		return starlarkstruct.FromStringDict(starlark.String("flow_run"), starlark.StringDict{
			"id": starlark.String(c.RunID), "name": starlark.String(c.Flow), "parameters": run.paramsOf(c),
		})
	}
	var index starlark.Value = starlark.None
	if c.MapIndex >= 0 {
		index = starlark.MakeInt(c.MapIndex)
	}
	return starlarkstruct.FromStringDict(starlark.String("task_run"), starlark.StringDict{
		"id": starlark.String(c.TaskRunID()), "name": starlark.String(c.TaskRun), "task_name": starlark.String(c.Node.Task),
		"map_index": index, "run_count": starlark.MakeInt(c.Attempt),
		"flow_run_id": starlark.String(c.RunID), "flow_name": starlark.String(c.Flow),
	})
}
