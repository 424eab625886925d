package builtins

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// subflowError carries the errors of a subflow's build, each at its own
// position, through the calling flow body's evaluation.
type subflowError struct{ errs runtime.ErrorList }

func (e *subflowError) Error() string { return e.errs.Error() }

// subflow adds a node for a call of flow f in the flow body being built,
// or of what flow.replace() put in its place.
func (b *builder) subflow(thread *starlark.Thread, f *Flow, args starlark.Tuple, kwargs []starlark.Tuple, mapped bool) (starlark.Value, error) {
	switch r := b.flow.replacementFor(f.name, b.replaced).(type) {
	case *Task:
		return b.callTask(thread, r, args, kwargs, mapped)
	case *Flow:
		f = r
	}
	return b.callFlow(thread, f, args, kwargs, mapped)
}

// callFlow adds a node for a call of flow f: f's body is built now, as
// its own graph, and the node runs it as a child flow run with the
// call's arguments as its parameters.
func (b *builder) callFlow(thread *starlark.Thread, f *Flow, args starlark.Tuple, kwargs []starlark.Tuple, mapped bool) (starlark.Value, error) {
	what := f.name
	if mapped {
		what += ".map"
	}
	if chain := b.recursion(f); chain != "" {
		return nil, fmt.Errorf("%s: flow %s calls itself (%s): a flow cannot run as its own subflow", what, f.name, chain)
	}
	kwargs, upstream, err := b.upstream(what, kwargs)
	if err != nil {
		return nil, err
	}
	if err := checkArity(what, f.fn, len(args), kwargs); err != nil {
		return nil, err
	}
	if err := f.checkArgs(args, kwargs, mapped); err != nil {
		return nil, err
	}
	child, err := f.buildChild(b)
	if err != nil {
		return nil, err
	}
	n := &runtime.Node{Name: b.uniqueName(f.name), Task: f.name, Kind: runtime.FlowNode, Pos: callerPos(thread),
		DefPos: f.defPos, Trigger: runtime.AllSuccessful, SkipOnUpstreamSkip: true, Mapped: mapped,
		Upstream: upstream, Sub: child}
	body := &starBody{fn: paramBinder(f), run: b.run}
	if err := b.bindArgs(n, body, what, args, kwargs, mapped); err != nil {
		return nil, err
	}
	n.Body = body
	return b.add(n), nil
}

// recursion returns the chain of flows by which f would call itself
// ("month -> week -> month"), or "".
func (b *builder) recursion(f *Flow) string {
	var chain []string
	found := false
	for p := b; p != nil; p = p.parent {
		chain = append(chain, p.flow.name)
		found = found || p.flow == f
	}
	if !found {
		return ""
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	for chain[0] != f.name {
		chain = chain[1:]
	}
	return strings.Join(append(chain, f.name), " -> ")
}

// checkArgs checks the values given to f's parameters in the call, as a
// run's parameters are checked: a value of another type than the
// parameter's default is refused. Task results are checked by nobody:
// their values come at run time.
func (f *Flow) checkArgs(args starlark.Tuple, kwargs []starlark.Tuple, mapped bool) error {
	check := func(p Param, v starlark.Value) error {
		if u, ok := v.(*unmappedValue); ok {
			v = u.v
		} else if mapped {
			return nil // an element of v is the value
		}
		if p.Default == nil || p.Default == starlark.None || hasRefs(v) || sameKind(v, p.Default) {
			return nil
		}
		return fmt.Errorf("%s: parameter %s: got %s %s, want %s like its default %s", f.name, p.Name, v.Type(), clip(v.String()), p.Default.Type(), clip(p.Default.String()))
	}
	for i, a := range args {
		if err := check(f.params[i], a); err != nil {
			return err
		}
	}
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		if err := check(f.params[f.paramIndex(k)], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

func (f *Flow) paramIndex(name string) int {
	for i, p := range f.params {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// buildChild builds f's body as the child flow of a subflow node in
// parent's flow. Its parameters are nodes whose values the node's call
// gives at run time (runtime.Options.Params); context keys of its tasks
// are those of the parent's run, with the child's flow name and run id.
func (f *Flow) buildChild(parent *builder) (*runtime.Graph, error) {
	params, err := f.bindParams(nil, true)
	if err != nil {
		return nil, err
	}
	p := parent.run
	run := &runInfo{flow: f.name, params: params, date: p.date, today: p.today, overrides: p.overrides,
		redactor: p.redactor, getenv: p.getenv}
	b := f.newBuilder(run, parent)
	res, err := b.evaluate(params)
	if err == nil {
		var bd *Build
		if bd, err = b.finish(res, params); err == nil {
			return bd.Graph, nil
		}
	}
	var list runtime.ErrorList
	var pe *runtime.PosError
	switch {
	case errors.As(err, &list):
		return nil, &subflowError{list}
	case errors.As(err, &pe):
		return nil, &subflowError{runtime.ErrorList{pe}}
	}
	return nil, err
}

// paramBinder is a subflow node's body function: it binds the call's
// arguments to f's parameters and gives their values in parameter order,
// defaults for the others.
func paramBinder(f *Flow) *starlark.Builtin {
	return starlark.NewBuiltin(f.name, func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		out := make(starlark.Tuple, len(f.params))
		copy(out, args)
		for _, kv := range kwargs {
			k, _ := starlark.AsString(kv[0])
			out[f.paramIndex(k)] = kv[1]
		}
		for i, p := range f.params {
			if out[i] == nil {
				out[i] = p.Default
			}
		}
		return out, nil
	})
}

// flowMap is flow.map(...) in a flow body: one child flow run per element.
func flowMap(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f := fn.Receiver().(*Flow)
	b := builderOf(thread)
	if b == nil {
		return nil, fmt.Errorf("%s.map: only inside a @flow function body", f.name)
	}
	return b.subflow(thread, f, args, kwargs, true)
}

// topFlows returns the flows that no other flow of flows calls as a
// subflow: with one flow and the subflows it calls in a file, that one
// flow is the one to run. Each flow is built as `wfsh check` builds it,
// its print() output dropped; one that does not build calls nothing.
func topFlows(flows []*Flow) []*Flow {
	called := map[string]bool{}
	var walk func(g *runtime.Graph)
	walk = func(g *runtime.Graph) {
		for _, n := range g.Nodes {
			if n.Sub != nil {
				called[n.Task] = true
				walk(n.Sub)
			}
		}
	}
	for _, f := range flows {
		if g := f.quietCheckBuild(); g != nil {
			walk(g)
		}
	}
	var top []*Flow
	for _, f := range flows {
		if !called[f.name] {
			top = append(top, f)
		}
	}
	return top
}

// quietCheckBuild builds f without parameter values and without its
// print() output, or returns nil.
func (f *Flow) quietCheckBuild() *runtime.Graph {
	params, err := f.bindParams(nil, true)
	if err != nil {
		return nil
	}
	run, err := newRunInfo(f.name, params, RunSettings{})
	if err != nil {
		return nil
	}
	b := f.newBuilder(run, nil)
	b.thread.Print = func(*starlark.Thread, string) {}
	res, err := b.evaluate(params)
	if err != nil {
		return nil
	}
	bd, err := b.finish(res, params)
	if err != nil {
		return nil
	}
	return bd.Graph
}
