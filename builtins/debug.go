package builtins

import (
	"context"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

// StateValue is a task or flow state as a Starlark value: what flow.run()
// reports, and what task_states mocks are made of (Success(...), ...).
type StateValue struct {
	state  runtime.State
	msg    string
	result starlark.Value
}

var _ starlark.Comparable = (*StateValue)(nil)

func (s *StateValue) String() string {
	if s.msg == "" {
		return "<" + s.state.String() + ">"
	}
	return fmt.Sprintf("<%s: %q>", s.state, s.msg)
}
func (s *StateValue) Type() string          { return "state" }
func (s *StateValue) Freeze()               { s.result.Freeze() }
func (s *StateValue) Truth() starlark.Bool  { return true }
func (s *StateValue) Hash() (uint32, error) { return starlark.String(s.state.String()).Hash() }

// CompareSameType compares states by name, so r.states["x"] == Success()
// reads naturally in tests.
func (s *StateValue) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	t := y.(*StateValue)
	switch op {
	case syntax.EQL:
		return s.state == t.state, nil
	case syntax.NEQ:
		return s.state != t.state, nil
	}
	return false, fmt.Errorf("%s not supported for states", op)
}

var stateMethods = map[string]*starlark.Builtin{
	"is_successful": starlark.NewBuiltin("is_successful", stateIs(runtime.State.Successful)),
	"is_failed":     starlark.NewBuiltin("is_failed", stateIs(runtime.State.IsFailed)),
	"is_skipped":    starlark.NewBuiltin("is_skipped", stateIs(func(s runtime.State) bool { return s == runtime.Skipped })),
}

func (s *StateValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(s.state.String()), nil
	case "message":
		return starlark.String(s.msg), nil
	case "result":
		return s.result, nil
	}
	return builtinAttr(s, name, stateMethods)
}

func (s *StateValue) AttrNames() []string {
	return append(builtinAttrNames(stateMethods), "message", "name", "result")
}

func stateIs(pred func(runtime.State) bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
			return nil, err
		}
		return starlark.Bool(pred(b.Receiver().(*StateValue).state)), nil
	}
}

// stateBuilder makes Success(message, result), Failed(...), Skipped(message).
func stateBuilder(st runtime.State) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		s := &StateValue{state: st, result: starlark.None}
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "message?", &s.msg, "result?", &s.result); err != nil {
			return nil, err
		}
		return s, nil
	}
}

// runResult is what flow.run() returns.
type runResult struct {
	res      *runtime.Result
	graph    *runtime.Graph
	states   *starlark.Dict
	subflows *starlark.Dict // a run result per subflow task run that ran
	nodes    map[string]runtime.TaskResult
}

func (r *runResult) String() string        { return fmt.Sprintf("<run %s: %s>", r.res.RunID, r.res.State) }
func (r *runResult) Type() string          { return "run" }
func (r *runResult) Freeze()               { r.states.Freeze(); r.subflows.Freeze() }
func (r *runResult) Truth() starlark.Bool  { return true }
func (r *runResult) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: run") }

var runMethods = map[string]*starlark.Builtin{
	"result": starlark.NewBuiltin("result", runResultOf),
}

func (r *runResult) Attr(name string) (starlark.Value, error) {
	switch name {
	case "state":
		return &StateValue{state: r.res.State, msg: r.res.Msg, result: starlark.None}, nil
	case "states":
		return r.states, nil
	case "run_id":
		return starlark.String(r.res.RunID), nil
	case "subflows":
		return r.subflows, nil
	case "value":
		return toStarlark(r.res.Value), nil
	}
	return builtinAttr(r, name, runMethods)
}

func (r *runResult) AttrNames() []string {
	return append(builtinAttrNames(runMethods), "run_id", "state", "states", "subflows", "value")
}

func newRunResult(res *runtime.Result) *runResult {
	r := &runResult{res: res, states: starlark.NewDict(len(res.Tasks)), subflows: starlark.NewDict(0), nodes: map[string]runtime.TaskResult{}}
	var add func(t runtime.TaskResult)
	add = func(t runtime.TaskResult) {
		r.nodes[t.Name] = t
		_ = r.states.SetKey(starlark.String(t.Name), &StateValue{state: t.State, msg: t.Msg, result: toStarlark(t.Value)})
		if t.Sub != nil {
			_ = r.subflows.SetKey(starlark.String(t.Name), newRunResult(t.Sub))
		}
		for _, c := range t.Children {
			add(c)
		}
	}
	for _, t := range res.Tasks {
		add(t)
	}
	r.Freeze()
	return r
}

func runResultOf(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	r := b.Receiver().(*runResult)
	t, ok := r.nodes[name]
	if !ok {
		return nil, fmt.Errorf("result: no task run named %q in this run (%s)", name, r.names())
	}
	return toStarlark(t.Value), nil
}

func (r *runResult) names() string {
	names := make([]string, len(r.res.Tasks))
	for i, t := range r.res.Tasks {
		names[i] = t.Name
	}
	return "task runs: " + strings.Join(names, ", ")
}

// flowRun is flow.run(**params, task_states={}, context={}).
func flowRun(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (_ starlark.Value, err error) {
	// A defect of wfsh met while building or running fails the statement
	// with one line, not the REPL with a Go stack.
	defer func() {
		if p := recover(); p != nil {
			err = InternalError(p)
		}
	}()
	f := b.Receiver().(*Flow)
	if len(args) > 0 {
		return nil, fmt.Errorf("run: give parameters by name, e.g. %s.run(x=1)", f.name)
	}
	params := map[string]starlark.Value{}
	var states, ctxv *starlark.Dict
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		var err error
		switch k {
		case "task_states":
			states, err = dictArg("task_states", kv[1])
		case "context":
			ctxv, err = dictArg("context", kv[1])
		default:
			params[k] = kv[1]
		}
		if err != nil {
			return nil, err
		}
	}
	ctxMap, err := stringMap(ctxv)
	if err != nil {
		return nil, err
	}
	build, err := f.Build(BuildOptions{Params: params, RunSettings: RunSettings{RunID: runtime.NewRunID(), Context: ctxMap, Redactor: f.env.sessionRedactor()}})
	if err != nil {
		return nil, err
	}
	mocks, err := Mocks(build.Graph, states)
	if err != nil {
		return nil, err
	}
	r := newRunResult(f.env.run(thread, build, mocks.Mocks, mocks.Sub))
	r.graph = build.Graph
	f.mu.Lock()
	f.lastRun = r
	f.mu.Unlock()
	return r, nil
}

// run executes a build for flow.run().
func (e *env) run(thread *starlark.Thread, b *Build, mocks map[runtime.NodeID]runtime.Mock, sub map[runtime.NodeID]*runtime.ChildMocks) *runtime.Result {
	var sink, view runtime.Sink
	var concurrency int
	if e != nil && e.opts.RunSink != nil {
		sink = e.opts.RunSink()
	}
	if e != nil && e.opts.OnRun != nil {
		view = e.opts.OnRun(RunStart{Flow: b.Flow.name, RunID: b.run.runID, Graph: b.Graph})
	}
	if e != nil {
		concurrency = e.opts.RunConcurrency
	}
	ctx, _ := thread.Local("context").(context.Context)
	if ctx == nil {
		ctx = context.Background()
	}
	opt := runtime.Options{RunID: b.run.runID, Sink: runtime.Tee(sink, view), Mocks: mocks, SubMocks: sub,
		Redactor: b.run.redactor, Concurrency: concurrency}
	var res *runtime.Result
	if e != nil && e.opts.Execute != nil {
		res = e.opts.Execute(ctx, b, opt)
	} else {
		res = runtime.Run(ctx, b.Graph, opt)
	}
	if ctx.Err() != nil {
		// Interrupted: the calling thread stops here too. Whoever
		// cancelled ctx also cancels the thread (the REPL does), but
		// maybe not before the tasks, which watch ctx themselves, have
		// ended the run: the statement must not go on meanwhile.
		thread.Cancel("interrupted")
	}
	return res
}

func dictArg(name string, v starlark.Value) (*starlark.Dict, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("run: %s must be a dict, got %s", name, v.Type())
	}
	return d, nil
}

func stringMap(d *starlark.Dict) (map[string]string, error) {
	if d == nil {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range d.Items() {
		k, ok1 := starlark.AsString(kv[0])
		v, ok2 := starlark.AsString(kv[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("run: context keys and values must be strings, got %s: %s", kv[0].Type(), kv[1].Type())
		}
		m[k] = v
	}
	return m, nil
}

// Mocks resolves task_states: each key names a task run, or a task (all
// its runs), or, as SUBFLOW/KEY, a task run or task inside the child runs
// of a subflow (named as a task run or by its flow; nested as deep as the
// subflows); each value is a state such as Success("msg", result).
func Mocks(g *runtime.Graph, states *starlark.Dict) (*runtime.ChildMocks, error) {
	if states == nil {
		return &runtime.ChildMocks{}, nil
	}
	mocks := &runtime.ChildMocks{Mocks: map[runtime.NodeID]runtime.Mock{}}
	for _, kv := range states.Items() {
		name, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("run: task_states keys must be task names, got %s", kv[0].Type())
		}
		st, ok := kv[1].(*StateValue)
		if !ok {
			return nil, fmt.Errorf("run: task_states[%q] must be a state such as Success(message, result), got %s", name, kv[1].Type())
		}
		st.result.Freeze()
		m := runtime.Mock{State: st.state, Msg: st.msg, Result: st.result}
		if err := addMock(g, mocks, name, name, m); err != nil {
			return nil, err
		}
	}
	return mocks, nil
}

// addMock mocks the nodes key names in g (rest of the task_states key
// name), into mocks.
func addMock(g *runtime.Graph, mocks *runtime.ChildMocks, name, key string, m runtime.Mock) error {
	if nodes := g.Lookup(key); len(nodes) > 0 {
		for _, n := range nodes {
			mocks.Mocks[n.ID] = m
		}
		return nil
	}
	sub, rest, ok := strings.Cut(key, "/")
	if !ok {
		return fmt.Errorf("run: task_states names no task %q (%s)", name, taskNames(g))
	}
	var subs []*runtime.Node
	for _, n := range g.Lookup(sub) {
		if n.Sub != nil {
			subs = append(subs, n)
		}
	}
	if len(subs) == 0 {
		return fmt.Errorf("run: task_states[%q]: no subflow %q (%s)", name, sub, taskNames(g))
	}
	for _, n := range subs {
		if mocks.Sub == nil {
			mocks.Sub = map[runtime.NodeID]*runtime.ChildMocks{}
		}
		cm := mocks.Sub[n.ID]
		if cm == nil {
			cm = &runtime.ChildMocks{Mocks: map[runtime.NodeID]runtime.Mock{}}
			mocks.Sub[n.ID] = cm
		}
		if err := addMock(n.Sub, cm, name, rest, m); err != nil {
			return err
		}
	}
	return nil
}

func taskNames(g *runtime.Graph) string {
	var names []string
	for _, n := range g.Nodes {
		if n.Kind.IsTask() {
			names = append(names, n.Name)
		}
	}
	return "tasks: " + strings.Join(names, ", ")
}

// flowGetTasks is flow.get_tasks(name=None): the task of every node built,
// or of those named name.
func flowGetTasks(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f := b.Receiver().(*Flow)
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name?", &name); err != nil {
		return nil, err
	}
	build, err := f.Build(BuildOptions{Check: true})
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, n := range build.Graph.Nodes {
		if n.Kind.IsTask() && (name == "" || n.Task == name || n.Name == name) {
			out = append(out, &nodeValue{name: n.Name, task: n.Task, pos: n.Pos})
		}
	}
	return starlark.NewList(out), nil
}

// nodeValue is one node of a built flow, as get_tasks() returns it.
type nodeValue struct {
	name, task string
	pos        runtime.Pos
}

func (n *nodeValue) String() string {
	return fmt.Sprintf("<task run %s of %s at %s>", n.name, n.task, n.pos)
}
func (n *nodeValue) Type() string          { return "node" }
func (n *nodeValue) Freeze()               {}
func (n *nodeValue) Truth() starlark.Bool  { return true }
func (n *nodeValue) Hash() (uint32, error) { return starlark.String(n.name).Hash() }
func (n *nodeValue) AttrNames() []string   { return []string{"name", "position", "task"} }

func (n *nodeValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(n.name), nil
	case "task":
		return starlark.String(n.task), nil
	case "position":
		return starlark.String(n.pos.String()), nil
	}
	return nil, nil
}

// flowReplace is flow.replace(old, new): later builds of the flow call new
// wherever they called old (a task, a task name or a node).
func flowReplace(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f := b.Receiver().(*Flow)
	var old, repl starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "old", &old, "new", &repl); err != nil {
		return nil, err
	}
	var name string
	switch o := old.(type) {
	case starlark.String:
		name = string(o)
	case *Task:
		name = o.name
	case *Flow:
		name = o.name
	case *nodeValue:
		name = o.task
	default:
		return nil, fmt.Errorf("replace: old must be a task, a flow (a subflow), a task name or a node from get_tasks(), got %s", old.Type())
	}
	switch repl.(type) {
	case *Task, *Flow:
	default:
		return nil, fmt.Errorf("replace: for parameter new: got %s, want task or flow", repl.Type())
	}
	r := &replacement{old: name, new: repl, pos: callerPos(thread)}
	f.mu.Lock()
	f.replacements = append(f.replacements, r)
	f.mu.Unlock()
	if _, err := f.Build(BuildOptions{Check: true}); err != nil {
		f.mu.Lock()
		f.replacements = f.replacements[:len(f.replacements)-1]
		f.mu.Unlock()
		return nil, err
	}
	return starlark.None, nil
}
