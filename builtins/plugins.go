package builtins

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// PluginHost runs plugins for load("@name") (plugins/host.Manager).
type PluginHost interface {
	Describe(ctx context.Context, plugin string) (*PluginDescription, error)
	// Call calls a plugin function; the arguments and the result are
	// Starlark values, which the host carries over the wire. An argument
	// the wire cannot carry is an error naming it ("argument x: ...").
	Call(ctx context.Context, plugin string, call *PluginCall) (starlark.Value, error)
}

// PluginDescription is what a plugin exports.
type PluginDescription struct {
	Version          string
	Functions        []PluginFunction
	TaskConstructors []PluginTaskConstructor
}

// PluginFunction is one function of a plugin and its parameters.
type PluginFunction struct {
	Name   string
	Params []PluginParam
}

// PluginParam is a parameter of a plugin function.
type PluginParam struct {
	Name     string
	Required bool
}

// PluginTaskConstructor makes tasks that call Function.
type PluginTaskConstructor struct {
	Name     string
	Function string
}

// PluginCall is one call of a plugin function from a task body.
type PluginCall struct {
	Function string
	Args     []PluginArg // in the order given
	TaskRun  string
	FlowRun  string
	Log      func(level runtime.Level, text string)
}

// PluginArg is an argument of a PluginCall, by parameter name.
type PluginArg struct {
	Name  string
	Value starlark.Value
}

// pluginModule builds the module of load("@name"): a callable for each
// function and a builtin for each task constructor.
func pluginModule(h PluginHost, name string) (starlark.StringDict, error) {
	ctx, cancel := context.WithTimeout(context.Background(), describeTimeout)
	defer cancel()
	desc, err := h.Describe(ctx, name)
	if err != nil {
		return nil, err
	}
	mod := starlark.StringDict{}
	fns := map[string]*pluginFunc{}
	for i := range desc.Functions {
		f := &desc.Functions[i]
		pf := &pluginFunc{host: h, plugin: name, version: desc.Version, desc: f}
		fns[f.Name] = pf
		mod[f.Name] = pf
	}
	for _, tc := range desc.TaskConstructors {
		f := fns[tc.Function]
		if f == nil {
			return nil, fmt.Errorf("plugin %s: task constructor %s calls unknown function %q", name, tc.Name, tc.Function)
		}
		mod[tc.Name] = taskConstructor(tc.Name, f)
	}
	mod.Freeze()
	return mod, nil
}

// describeTimeout bounds how long load("@name") waits for a plugin to say
// what it exports.
const describeTimeout = 30 * time.Second

// pluginFunc is a plugin function, callable in task bodies.
type pluginFunc struct {
	host    PluginHost
	plugin  string
	version string // the plugin's, for cache keys
	desc    *PluginFunction
}

var _ starlark.Callable = (*pluginFunc)(nil)

func (f *pluginFunc) String() string        { return fmt.Sprintf("<plugin function %s>", f.Name()) }
func (f *pluginFunc) Type() string          { return "plugin_function" }
func (f *pluginFunc) Freeze()               {}
func (f *pluginFunc) Truth() starlark.Bool  { return true }
func (f *pluginFunc) Hash() (uint32, error) { return starlark.String(f.Name()).Hash() }
func (f *pluginFunc) Name() string          { return f.plugin + "." + f.desc.Name }

// CallInternal calls the plugin with the task run's context: cancelling or
// timing out the task cancels the call. Log lines go to the task's log.
func (f *pluginFunc) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tr := taskRunOf(thread)
	if tr == nil {
		return nil, fmt.Errorf("%s: plugin functions run only inside a task body", f.Name())
	}
	bound, err := f.bind(args, kwargs)
	if err != nil {
		return nil, err
	}
	call := &PluginCall{Function: f.desc.Name, Args: bound, TaskRun: tr.call.TaskRun, FlowRun: tr.call.RunID, Log: tr.call.Log}
	res, err := f.host.Call(tr.ctx, f.plugin, call)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name(), err)
	}
	res.Freeze()
	return res, nil
}

// bind names the arguments by parameter and checks them as a Starlark
// function call would.
func (f *pluginFunc) bind(args starlark.Tuple, kwargs []starlark.Tuple) ([]PluginArg, error) {
	params := f.desc.Params
	if len(args) > len(params) {
		return nil, fmt.Errorf("%s: got %d positional arguments, want at most %d", f.Name(), len(args), len(params))
	}
	given := map[string]bool{}
	var bound []PluginArg
	add := func(name string, v starlark.Value) error {
		if given[name] {
			return fmt.Errorf("%s: got multiple values for parameter %s", f.Name(), name)
		}
		given[name] = true
		bound = append(bound, PluginArg{Name: name, Value: v})
		return nil
	}
	for i, a := range args {
		if err := add(params[i].Name, a); err != nil {
			return nil, err
		}
	}
	for _, kv := range kwargs {
		if err := add(string(kv[0].(starlark.String)), kv[1]); err != nil {
			return nil, err
		}
	}
	return bound, f.checkNames(given, true)
}

// checkNames reports unknown parameters, and missing ones if all is set.
func (f *pluginFunc) checkNames(given map[string]bool, all bool) error {
	known := map[string]bool{}
	var names []string
	for _, p := range f.desc.Params {
		known[p.Name] = true
		names = append(names, p.Name)
		if all && p.Required && !given[p.Name] {
			return fmt.Errorf("%s: missing argument %s", f.Name(), p.Name)
		}
	}
	for name := range given {
		if !known[name] {
			return fmt.Errorf("%s: unexpected keyword argument %q (parameters: %s)", f.Name(), name, strings.Join(names, ", "))
		}
	}
	return nil
}

// taskConstructor is a plugin's task constructor: its keyword arguments are
// @task options and defaults for the function's parameters.
func taskConstructor(name string, f *pluginFunc) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("%s: give arguments by name, e.g. %s(name=\"load\", ...)", name, name)
		}
		var opts, defaults []starlark.Tuple
		for _, kv := range kwargs {
			if taskOptionNames[string(kv[0].(starlark.String))] {
				opts = append(opts, kv)
			} else {
				defaults = append(defaults, kv)
			}
		}
		taskName, o, err := unpackTaskOptions(name, opts)
		if err != nil {
			return nil, err
		}
		if taskName == "" {
			taskName = name
		}
		for _, kv := range defaults {
			if r := firstRef(kv[1]); r != nil {
				return nil, fmt.Errorf("%s: %s holds %s: a task constructor takes values; pass task results when calling the task it makes (t(%s=...))", name, kv[0].(starlark.String).GoString(), r.what(), kv[0].(starlark.String).GoString())
			}
			kv[1].Freeze()
		}
		p := &partial{f: f, defaults: defaults}
		if err := p.checkNames(name, nil, false); err != nil {
			return nil, err
		}
		return &Task{name: taskName, fn: p, defPos: callerPos(thread), opts: o}, nil
	})
}

// partial is a plugin function with default keyword arguments: the body
// of a task made by a task constructor.
type partial struct {
	f        *pluginFunc
	defaults []starlark.Tuple // (name, value) pairs
}

func (p *partial) String() string        { return p.f.String() }
func (p *partial) Type() string          { return "plugin_function" }
func (p *partial) Freeze()               {}
func (p *partial) Truth() starlark.Bool  { return true }
func (p *partial) Hash() (uint32, error) { return p.f.Hash() }
func (p *partial) Name() string          { return p.f.Name() }

// kwargs returns the defaults overridden by the call's keyword arguments.
func (p *partial) kwargs(call []starlark.Tuple) []starlark.Tuple {
	out := make([]starlark.Tuple, 0, len(p.defaults)+len(call))
	for _, kv := range p.defaults {
		if !hasKwarg(call, kv[0]) {
			out = append(out, kv)
		}
	}
	return append(out, call...)
}

func hasKwarg(kwargs []starlark.Tuple, name starlark.Value) bool {
	for _, kv := range kwargs {
		if kv[0] == name {
			return true
		}
	}
	return false
}

func (p *partial) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%s: give arguments by name", p.Name())
	}
	return p.f.CallInternal(thread, nil, p.kwargs(kwargs))
}

// checkCall lets the flow builder reject, at build time, calls that could
// never bind.
func (p *partial) checkCall(what string, nargs int, kwargs []starlark.Tuple) error {
	if nargs > 0 {
		return fmt.Errorf("%s: give arguments by name", what)
	}
	return p.checkNames(what, kwargs, true)
}

// checkNames checks the defaults merged with kwargs against the function's
// parameters, reporting errors under the name what.
func (p *partial) checkNames(what string, kwargs []starlark.Tuple, all bool) error {
	given := map[string]bool{}
	for _, kv := range p.kwargs(kwargs) {
		given[string(kv[0].(starlark.String))] = true
	}
	if err := p.f.checkNames(given, all); err != nil {
		return fmt.Errorf("%s: %s", what, strings.TrimPrefix(err.Error(), p.f.Name()+": "))
	}
	return nil
}
