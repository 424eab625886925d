package builtins

import (
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// Task is a @task function: called in a flow body it adds a node; called in
// a task body it is a plain function call.
type Task struct {
	name   string
	fn     starlark.Callable
	defPos runtime.Pos
	opts   taskOptions
}

type taskOptions struct {
	retries            int
	retryDelay         time.Duration
	timeout            time.Duration
	trigger            runtime.Trigger
	cacheFor           time.Duration
	cacheKey           starlark.Callable
	tags               []string
	skipOnUpstreamSkip bool
	hooks              []hookDecl
}

var (
	_ starlark.Callable = (*Task)(nil)
	_ starlark.HasAttrs = (*Task)(nil)
)

func defaultTaskOptions() taskOptions {
	return taskOptions{trigger: runtime.AllSuccessful, skipOnUpstreamSkip: true}
}

func (t *Task) String() string        { return fmt.Sprintf("<task %s>", t.name) }
func (t *Task) Type() string          { return "task" }
func (t *Task) Freeze()               { t.fn.Freeze() }
func (t *Task) Truth() starlark.Bool  { return true }
func (t *Task) Hash() (uint32, error) { return starlark.String(t.name).Hash() }
func (t *Task) Name() string          { return t.name }

// CallInternal adds a node when a flow is being built, calls the function
// when a task is running, and refuses otherwise.
func (t *Task) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if b := builderOf(thread); b != nil {
		return b.call(thread, t, args, kwargs, false)
	}
	if taskRunOf(thread) != nil {
		return starlark.Call(thread, t.fn, args, kwargs)
	}
	return nil, fmt.Errorf("%s: a task can only be called inside a @flow function body (or inside another task, where it runs as a plain function); to call the function itself use %s.fn(...)", t.name, t.name)
}

var taskMethods = map[string]*starlark.Builtin{
	"map": starlark.NewBuiltin("map", taskMap),
}

func (t *Task) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(t.name), nil
	case "fn":
		return t.fn, nil
	case "retries":
		return starlark.MakeInt(t.opts.retries), nil
	}
	return builtinAttr(t, name, taskMethods)
}

func (t *Task) AttrNames() []string {
	return append(builtinAttrNames(taskMethods), "fn", "name", "retries")
}

func taskMap(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	t := fn.Receiver().(*Task)
	b := builderOf(thread)
	if b == nil {
		return nil, fmt.Errorf("%s.map: only inside a @flow function body", t.name)
	}
	return b.call(thread, t, args, kwargs, true)
}

// task is the @task decorator: task(fn), or task(**options) returning a
// decorator.
func task(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 0, &fn); err != nil {
		return nil, err
	}
	name, opts, err := unpackTaskOptions(b.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	make := func(fn starlark.Callable) (starlark.Value, error) {
		if _, ok := fn.(*Task); ok {
			return nil, fmt.Errorf("task: %s is already a task", fn.Name())
		}
		n := name
		if n == "" {
			n = fn.Name()
		}
		return &Task{name: n, fn: fn, defPos: definitionPos(fn, thread), opts: opts}, nil
	}
	if fn != nil {
		return make(fn)
	}
	return starlark.NewBuiltin("task", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var fn starlark.Callable
		if err := starlark.UnpackPositionalArgs("task", args, kwargs, 1, &fn); err != nil {
			return nil, err
		}
		return make(fn)
	}), nil
}

// taskOptionNames are the keyword arguments of @task(...), which plugin
// task constructors take too.
var taskOptionNames = map[string]bool{"name": true, "retries": true, "retry_delay": true, "timeout": true,
	"trigger": true, "cache_for": true, "cache_key": true, "tags": true, "skip_on_upstream_skip": true,
	"on_success": true, "on_failure": true, "on_completion": true, "on_retry": true}

// unpackTaskOptions reads the options of @task(...) from kwargs.
func unpackTaskOptions(fname string, kwargs []starlark.Tuple) (string, taskOptions, error) {
	var name string
	opts := defaultTaskOptions()
	var trigger *triggerValue
	var retryDelay, timeout, cacheFor duration
	var cacheKey starlark.Value = starlark.None
	var tags stringList
	var hooks hookArgs
	if err := starlark.UnpackArgs(fname, nil, kwargs, hooks.pairs(taskHookKinds,
		"name?", &name, "retries?", &opts.retries, "retry_delay?", &retryDelay,
		"timeout?", &timeout, "trigger?", &trigger, "cache_for?", &cacheFor, "cache_key?", &cacheKey,
		"tags?", &tags, "skip_on_upstream_skip?", &opts.skipOnUpstreamSkip)...); err != nil {
		return "", opts, err
	}
	opts.hooks = hooks.decls()
	if opts.retries < 0 {
		return "", opts, fmt.Errorf("%s: retries must be >= 0, got %d", fname, opts.retries)
	}
	if trigger != nil {
		opts.trigger = trigger.t
	}
	if c, ok := cacheKey.(starlark.Callable); ok {
		opts.cacheKey = c
	} else if cacheKey != starlark.None {
		return "", opts, fmt.Errorf("%s: cache_key must be a function of the task's inputs, got %s", fname, cacheKey.Type())
	}
	opts.retryDelay, opts.timeout, opts.cacheFor, opts.tags = retryDelay.d, timeout.d, cacheFor.d, tags
	return name, opts, nil
}

// definitionPos is where fn was defined, or where the decorator was called
// for functions without a position.
func definitionPos(fn starlark.Callable, thread *starlark.Thread) runtime.Pos {
	if f, ok := fn.(*starlark.Function); ok {
		return toPos(f.Position())
	}
	return callerPos(thread)
}
