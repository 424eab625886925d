package builtins

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// Flow is a @flow function: its body, run once per flow run with a
// Parameter node for each of its parameters, wires tasks into a graph.
type Flow struct {
	name     string
	fn       *starlark.Function
	defPos   runtime.Pos
	schedule flowSchedules
	limits   tagLimits     // limits=: at most limits[tag] task runs of tag at once
	timeout  time.Duration // timeout=: the run's whole time; 0: none
	params   []Param
	hooks    []hookDecl
	env      *env // how flow.run() reports and runs

	mu           sync.Mutex
	replacements []*replacement
	lastRun      *runResult // of flow.run(), for visualize()
}

// Param is a flow parameter; Default is nil when the parameter is required.
type Param struct {
	Name    string
	Default starlark.Value
}

// replacement is one flow.replace(old, new): calls of old build new.
type replacement struct {
	old string         // task or flow name
	new starlark.Value // a *Task or, for a subflow, a *Flow
	pos runtime.Pos
}

var (
	_ starlark.HasAttrs = (*Flow)(nil)
	_ starlark.Callable = (*Flow)(nil)
)

func (f *Flow) String() string        { return fmt.Sprintf("<flow %s>", f.name) }
func (f *Flow) Type() string          { return "flow" }
func (f *Flow) Freeze()               { f.fn.Freeze() }
func (f *Flow) Truth() starlark.Bool  { return true }
func (f *Flow) Hash() (uint32, error) { return starlark.String(f.name).Hash() }

// Name is the flow's name.
func (f *Flow) Name() string { return f.name }

// Pos is where the flow's function is defined.
func (f *Flow) Pos() runtime.Pos { return f.defPos }

// Timeout is the flow's timeout= (zero: none): a run that takes longer
// is stopped and Failed.
func (f *Flow) Timeout() time.Duration { return f.timeout }

// Params lists the flow's parameters in order.
func (f *Flow) Params() []Param { return f.params }

// CallInternal adds a subflow node when a flow is being built, and
// refuses otherwise: a flow is run, not called.
func (f *Flow) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if b := builderOf(thread); b != nil {
		return b.subflow(thread, f, args, kwargs, false)
	}
	return nil, fmt.Errorf("%s: a flow is not called outside a flow body; run it with %s.run(...) or `wfsh run`, or call it in another flow's body as a subflow", f.name, f.name)
}

// flowDecorator is @flow and @flow(name=..., schedule=..., catchup=...,
// overlap=..., late_after=..., limits=..., timeout=...).
func flowDecorator(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn *starlark.Function
	var name, catchup, overlap string
	var sched, lateAfter starlark.Value = starlark.None, starlark.None
	var hooks hookArgs
	var limits tagLimits
	var timeout duration
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, hooks.pairs(flowHookKinds, "fn?", &fn, "name?", &name, "schedule?", &sched,
		"catchup?", &catchup, "overlap?", &overlap, "late_after?", &lateAfter, "limits?", &limits, "timeout?", &timeout)...); err != nil {
		return nil, err
	}
	schedule, err := parseFlowSchedules(sched, catchup, overlap, lateAfter)
	if err != nil {
		return nil, err
	}
	e := envOf(thread)
	make := func(fn *starlark.Function) (starlark.Value, error) {
		f, err := newFlow(fn, name, schedule, limits, e)
		if err != nil {
			return nil, err
		}
		f.hooks, f.timeout = hooks.decls(), timeout.d
		return f, nil
	}
	if fn != nil {
		return make(fn)
	}
	return starlark.NewBuiltin("flow", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var fn *starlark.Function
		if err := starlark.UnpackPositionalArgs("flow", args, kwargs, 1, &fn); err != nil {
			return nil, err
		}
		return make(fn)
	}), nil
}

func newFlow(fn *starlark.Function, name string, schedule flowSchedules, limits tagLimits, e *env) (*Flow, error) {
	if fn.HasVarargs() || fn.HasKwargs() {
		return nil, fmt.Errorf("flow: %s: *args and **kwargs cannot be flow parameters; name each parameter", fn.Name())
	}
	if name == "" {
		name = fn.Name()
	}
	f := &Flow{name: name, fn: fn, defPos: toPos(fn.Position()), schedule: schedule, limits: limits, env: e}
	for i := 0; i < fn.NumParams(); i++ {
		p, _ := fn.Param(i)
		f.params = append(f.params, Param{Name: p, Default: fn.ParamDefault(i)})
	}
	if err := f.checkScheduleParams(); err != nil {
		return nil, err
	}
	return f, nil
}

// Build is a flow built for one run.
type Build struct {
	Flow   *Flow
	Graph  *runtime.Graph
	Params *starlark.Dict
	run    *runInfo
}

// Redactor masks the run's secrets.
func (b *Build) Redactor() *runtime.Redactor { return b.run.redactor }

// BuildOptions are what a build needs besides the flow.
type BuildOptions struct {
	RunSettings
	Params map[string]starlark.Value
	// Check builds without parameter values: required parameters get None
	// (they are nodes; no body runs).
	Check bool
}

// Build evaluates the flow body into a graph. Every error carries a
// position; an ErrorList may hold several.
func (f *Flow) Build(opts BuildOptions) (*Build, error) {
	params, err := f.bindParams(opts.Params, opts.Check)
	if err != nil {
		return nil, err
	}
	run, err := newRunInfo(f.name, params, opts.RunSettings)
	if err != nil {
		return nil, &runtime.PosError{Pos: runtime.Pos{File: f.defPos.File}, Msg: err.Error()}
	}
	b := f.newBuilder(run, nil)
	res, err := b.evaluate(params)
	if err != nil {
		return nil, err
	}
	return b.finish(res, params)
}

// newBuilder starts a build of f for run; parent is the build of the flow
// whose body calls f as a subflow (nil for a flow run's own).
func (f *Flow) newBuilder(run *runInfo, parent *builder) *builder {
	thread := &starlark.Thread{Name: "flow " + f.name, Print: f.env.print}
	if parent != nil {
		thread.Print = parent.thread.Print
	}
	b := &builder{thread: thread, flow: f, run: run, counts: map[string]*int{}, parent: parent,
		g: &runtime.Graph{Flow: f.name, Values: starlarkValues{}, Limits: f.limits, Timeout: f.timeout}, replaced: map[*replacement]bool{}}
	b.g.Hooks = runtimeHooks(f.hooks, f, run)
	thread.SetLocal(localBuilder, b)
	thread.SetLocal(localEnv, f.env)
	return b
}

// evaluate runs the flow body, each parameter a Parameter node, and
// returns what it returned.
func (b *builder) evaluate(params *starlark.Dict) (starlark.Value, error) {
	f := b.flow
	args := make(starlark.Tuple, len(f.params))
	for i, p := range f.params {
		ref := b.param(p.Name, mustGet(params, p.Name))
		b.g.Params = append(b.g.Params, ref.id)
		args[i] = ref
	}
	res, err := starlark.Call(b.thread, f.fn, args, nil)
	if b.misused != nil {
		return nil, runtime.ErrorList{b.misused}
	}
	var sub *subflowError
	if errors.As(err, &sub) {
		return nil, sub.errs
	}
	if err != nil {
		return nil, positioned(err)
	}
	return res, nil
}

func mustGet(d *starlark.Dict, k string) starlark.Value {
	v, _, _ := d.Get(starlark.String(k))
	return v
}

func (b *builder) param(name string, v starlark.Value) *TaskRef {
	n := &runtime.Node{Name: b.uniqueName(name), Task: name, Kind: runtime.ParamNode, Pos: b.flow.defPos,
		DefPos: b.flow.defPos, Trigger: runtime.AllSuccessful}
	n.Body = runtime.BodyFunc(func(_ context.Context, _ *runtime.Call) (runtime.Value, error) { return v, nil })
	return b.add(n)
}

// finish sets the reference tasks and runs the checks that need the whole
// graph.
func (b *builder) finish(res starlark.Value, params *starlark.Dict) (*Build, error) {
	pos := b.flow.defPos
	refs, err := referenceNodes(res)
	if err != nil {
		b.errs.Add(pos, "flow %s: %v", b.flow.name, err)
	}
	b.g.Reference = refs
	switch res.(type) {
	case *TaskRef:
		b.g.Returns = runtime.ReturnsOne
	case starlark.Indexable:
		b.g.Returns = runtime.ReturnsList
	}
	for _, r := range b.flow.replacementList() {
		if !b.replaced[r] {
			b.errs.Add(r.pos, "replace: flow %s calls no task or subflow named %q", b.flow.name, r.old)
		}
	}
	b.checkCaptured()
	if len(b.g.Nodes) == len(b.flow.params) {
		b.errs.Add(pos, "flow %s: its body calls no task", b.flow.name)
	}
	// Every node's name came from uniqueName: no two are the same.
	if err := b.g.ValidateBuilt(); err != nil {
		var list runtime.ErrorList
		if errors.As(err, &list) {
			b.errs = append(b.errs, list...)
		}
	}
	if len(b.errs) > 0 {
		b.errs.Sort()
		return nil, b.errs
	}
	// Every starBody of the build is a node's (callTask, constant,
	// subflows, run_deployment).
	for _, n := range b.g.Nodes {
		if body, ok := n.Body.(*starBody); ok {
			body.freeze()
		}
	}
	params.Freeze()
	return &Build{Flow: b.flow, Graph: b.g, Params: params, run: b.run}, nil
}

// checkCaptured reports task functions that reach a TaskRef other than
// through their arguments: a default value or a variable of the flow body
// that a task defined inside it uses. At run time it would be a node, not
// a value.
func (b *builder) checkCaptured() {
	seen := map[*starlark.Function]bool{}
	for _, n := range b.g.Nodes {
		body, ok := n.Body.(*starBody)
		if !ok {
			continue
		}
		fn, ok := body.fn.(*starlark.Function)
		if !ok || seen[fn] {
			continue
		}
		seen[fn] = true
		for i := range fn.NumFreeVars() {
			bind, v := fn.FreeVar(i)
			if r := firstRef(v); r != nil {
				b.errs.Add(n.DefPos, "task %s uses variable %s of the flow body, which holds %s: a task gets results only as arguments; pass it as one", n.Task, bind.Name, r.what())
			}
		}
		for i := range fn.NumParams() {
			if r := firstRef(fn.ParamDefault(i)); r != nil {
				name, _ := fn.Param(i)
				b.errs.Add(n.DefPos, "task %s: the default of parameter %s holds %s: a task gets results only as arguments; pass it as one", n.Task, name, r.what())
			}
		}
	}
}

func firstRef(v starlark.Value) *TaskRef {
	if v == nil {
		return nil
	}
	var first *TaskRef
	walkRefs(v, func(r *TaskRef) {
		if first == nil {
			first = r
		}
	})
	return first
}

// referenceNodes reads the flow function's return value: nothing, a task
// result, or a list or tuple of them.
func referenceNodes(res starlark.Value) ([]runtime.NodeID, error) {
	switch res := res.(type) {
	case starlark.NoneType:
		return nil, nil
	case *TaskRef:
		return []runtime.NodeID{res.id}, nil
	case starlark.Indexable:
		var ids []runtime.NodeID
		for i := 0; i < res.Len(); i++ {
			r, ok := res.Index(i).(*TaskRef)
			if !ok {
				return nil, fmt.Errorf("return value must be a task result or a list of them, got a %s in the list", res.Index(i).Type())
			}
			ids = append(ids, r.id)
		}
		return ids, nil
	}
	return nil, fmt.Errorf("return value must be a task result or a list of them, got %s", res.Type())
}

// bindParams checks the given parameter values against the flow's
// parameters: no unknown name, every required one given, each of its
// default's type.
func (f *Flow) bindParams(given map[string]starlark.Value, check bool) (*starlark.Dict, error) {
	var errs runtime.ErrorList
	pos := f.defPos
	for _, k := range sortedKeys(given) {
		if !f.hasParam(k) {
			errs.Add(pos, "flow %s has no parameter %q (%s)", f.name, k, f.paramList())
		}
	}
	d := starlark.NewDict(len(f.params))
	for _, p := range f.params {
		v, ok := given[p.Name]
		switch {
		case ok && p.Default != nil && p.Default != starlark.None && !sameKind(v, p.Default):
			errs.Add(pos, "parameter %s: got %s %s, want %s like its default %s", p.Name, v.Type(), clip(v.String()), p.Default.Type(), clip(p.Default.String()))
		case !ok && p.Default != nil:
			v = p.Default
		case !ok && check:
			v = starlark.None
		case !ok:
			errs.Add(pos, "flow %s: missing required parameter %q (give it with -p %s=VALUE)", f.name, p.Name, p.Name)
			continue
		}
		_ = d.SetKey(starlark.String(p.Name), v)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

func sameKind(v, def starlark.Value) bool {
	if v.Type() == def.Type() {
		return true
	}
	_, isInt := v.(starlark.Int)
	_, wantFloat := def.(starlark.Float)
	return isInt && wantFloat
}

func (f *Flow) hasParam(name string) bool {
	for _, p := range f.params {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (f *Flow) paramList() string {
	if len(f.params) == 0 {
		return "it takes none"
	}
	names := make([]string, len(f.params))
	for i, p := range f.params {
		names[i] = p.Name
	}
	return "parameters: " + strings.Join(names, ", ")
}

func (f *Flow) replacementList() []*replacement {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*replacement(nil), f.replacements...)
}

// replacementFor returns what replaces the task or flow named name (a
// *Task or a *Flow), or nil, and marks the replacements used.
// Replacements chain in the order they were made: after replace(a, b) and
// replace(b, c), calls of a build c.
func (f *Flow) replacementFor(name string, used map[*replacement]bool) starlark.Value {
	var out starlark.Value
	for _, r := range f.replacementList() {
		if r.old == name {
			used[r] = true
			out = r.new
			name = calleeName(r.new)
		}
	}
	return out
}

// calleeName is the name of a task or a flow.
func calleeName(v starlark.Value) string {
	switch v := v.(type) {
	case *Task:
		return v.name
	case *Flow:
		return v.name
	}
	return ""
}

// SortFlows orders flows by where they are defined.
func SortFlows(flows []*Flow) {
	sort.Slice(flows, func(i, j int) bool { return flows[i].defPos.Before(flows[j].defPos) })
}

// maxShown bounds how much of a value given from outside (-p) a message
// repeats.
const maxShown = 80

// clip cuts s for a message: its first maxShown characters and its size.
func clip(s string) string {
	if r := []rune(s); len(r) > maxShown {
		return fmt.Sprintf("%s... (%d bytes)", string(r[:maxShown]), len(s))
	}
	return s
}

var flowMethods = map[string]*starlark.Builtin{
	"run":       starlark.NewBuiltin("run", flowRun),
	"map":       starlark.NewBuiltin("map", flowMap),
	"get_tasks": starlark.NewBuiltin("get_tasks", flowGetTasks),
	"replace":   starlark.NewBuiltin("replace", flowReplace),
	"visualize": starlark.NewBuiltin("visualize", flowVisualize),
}

func (f *Flow) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(f.name), nil
	case "parameters":
		names := make([]starlark.Value, len(f.params))
		for i, p := range f.params {
			names[i] = starlark.String(p.Name)
		}
		return starlark.NewList(names), nil
	}
	return builtinAttr(f, name, flowMethods)
}

func (f *Flow) AttrNames() []string {
	return append(builtinAttrNames(flowMethods), "name", "parameters")
}
