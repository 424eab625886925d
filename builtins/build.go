package builtins

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

const localBuilder = "wfsh.builder"

// builder collects the nodes of one flow build. It lives in the build
// thread's locals: every build-time builtin finds it there.
type builder struct {
	thread *starlark.Thread
	flow   *Flow
	// parent is the build whose flow body calls this one's flow as a
	// subflow; nil for a flow run's own build.
	parent *builder
	g      *runtime.Graph
	run    *runInfo
	counts map[string]*int // calls of each task name so far
	// repeatNames counts the keys of counts of the form X-k a repeated
	// call is given (splitRepeat).
	repeatNames int
	names       strings.Builder // repeatOf's
	guards      []runtime.Guard // from enclosing case() calls
	// misuse is set when a TaskRef was used as a value where Starlark
	// gives us no way to return an error (truth, str).
	misused *runtime.PosError
	errs    runtime.ErrorList // problems that do not stop the build
	// replaced records which flow.replace() entries matched a call.
	replaced map[*replacement]bool
	// hooks are each task's hooks bound to this run, made at its first call.
	hooks map[*Task][]runtime.Hook

	nodeBlock []runtime.Node // fromBlock's
	bodyBlock []starBody
	refBlock  []TaskRef
	// take's: a call's arguments, inputs and dynamic flags
	valueSlab []starlark.Value
	inputSlab []runtime.Input
	boolSlab  []bool
}

func builderOf(thread *starlark.Thread) *builder {
	b, _ := thread.Local(localBuilder).(*builder)
	return b
}

func (b *builder) misuse(msg string) {
	if b == nil || b.misused != nil {
		return
	}
	b.misused = &runtime.PosError{Pos: callerPos(b.thread), Msg: msg}
	b.thread.Cancel(msg)
}

// uniqueName gives repeated calls of a task the names name, name-2, ...,
// skipping any name already given. Only the names of tasks are kept (in
// counts), not every name given: a repeat's name X-k can only clash with
// a task named X-k (no two repeats share a name), and a task's own name
// only with a repeat's (X-k with k at most the calls of X so far). While
// no task is named like a repeat (repeatNames), a repeat's name clashes
// with none, and a repeated call costs one map look-up.
func (b *builder) uniqueName(name string) string {
	for {
		p := b.counts[name]
		if p == nil {
			p = new(int)
			b.counts[name] = p
			if _, _, ok := splitRepeat(name); ok {
				b.repeatNames++
			}
		}
		*p++
		c := *p
		if c == 1 {
			if !b.repeatName(name) {
				return name
			}
			continue
		}
		n := b.repeatOf(name, c)
		if b.repeatNames == 0 || b.counts[n] == nil {
			return n
		}
	}
}

// repeatOf returns name-c, written into the builder's block of names
// (a strings.Builder never changes what it has written, so each name
// stays as it is): not one allocation per name.
func (b *builder) repeatOf(name string, c int) string {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(c), 10)
	size := len(name) + 1 + len(d)
	if size > nameBlockSize/16 {
		return name + "-" + string(d)
	}
	if b.names.Cap()-b.names.Len() < size {
		b.names = strings.Builder{}
		b.names.Grow(nameBlockSize)
	}
	start := b.names.Len()
	b.names.WriteString(name)
	b.names.WriteByte('-')
	b.names.Write(d)
	return b.names.String()[start:]
}

const nameBlockSize = 4096

// repeatName reports whether n was given to a repeated call: n is X-k and
// X was called at least k times.
func (b *builder) repeatName(n string) bool {
	x, k, ok := splitRepeat(n)
	if !ok {
		return false
	}
	p := b.counts[x]
	return p != nil && *p >= k
}

// splitRepeat splits a name of the form a repeated call is given, X-k (k
// at least 2, written without leading zeros), into X and k.
func splitRepeat(n string) (string, int, bool) {
	i := strings.LastIndexByte(n, '-')
	if i < 0 {
		return "", 0, false
	}
	k, err := strconv.Atoi(n[i+1:])
	if err != nil || k < 2 || strconv.Itoa(k) != n[i+1:] {
		return "", 0, false
	}
	return n[:i], k, true
}

// fromBlock returns a zero T from *block, a new block of blockSize when it
// is used up: a flow of many task calls allocates its nodes and bodies a
// block at a time, not one by one.
func fromBlock[T any](block *[]T) *T {
	if len(*block) == 0 {
		*block = make([]T, blockSize)
	}
	v := &(*block)[0]
	*block = (*block)[1:]
	return v
}

const blockSize = 64

// take returns an empty slice of capacity n cut from *slab, a new slab of
// slabSize when too little is left (nil for n 0): a call's short slices
// are not allocated one by one. Appending past n moves the slice out, as
// for any slice; it never writes into the slab's next one.
func take[T any](slab *[]T, n int) []T {
	if n == 0 {
		return nil
	}
	if n > slabSize/8 {
		return make([]T, 0, n)
	}
	if len(*slab) < n {
		*slab = make([]T, slabSize)
	}
	s := (*slab)[:0:n]
	*slab = (*slab)[n:]
	return s
}

const slabSize = 1024

// newRef returns a TaskRef of the given fields from the builder's block.
func (b *builder) newRef(r TaskRef) *TaskRef {
	p := fromBlock(&b.refBlock)
	*p = r
	return p
}

// add appends a node under the enclosing case() guards and returns its ref.
func (b *builder) add(n *runtime.Node) *TaskRef {
	n.Guards = append(n.Guards, b.guards...)
	b.g.Add(n)
	if len(b.g.Nodes) == runtime.LargeRun {
		runtime.ExpectTasks(runtime.LargeRun)
	}
	return b.newRef(TaskRef{b: b, id: n.ID, name: n.Name, param: n.Kind == runtime.ParamNode, mapped: n.Mapped})
}

// call adds a node for a call of t in the flow body, or of what
// flow.replace() put in its place.
func (b *builder) call(thread *starlark.Thread, t *Task, args starlark.Tuple, kwargs []starlark.Tuple, mapped bool) (starlark.Value, error) {
	switch r := b.flow.replacementFor(t.name, b.replaced).(type) {
	case *Task:
		t = r
	case *Flow:
		return b.callFlow(thread, r, args, kwargs, mapped)
	}
	return b.callTask(thread, t, args, kwargs, mapped)
}

// callTask adds a node for a call of t in the flow body.
func (b *builder) callTask(thread *starlark.Thread, t *Task, args starlark.Tuple, kwargs []starlark.Tuple, mapped bool) (starlark.Value, error) {
	what := t.name
	if mapped {
		what += ".map"
	}
	kwargs, upstream, err := b.upstream(what, kwargs)
	if err != nil {
		return nil, err
	}
	if err := checkArity(what, t.fn, len(args), kwargs); err != nil {
		return nil, err
	}
	n := fromBlock(&b.nodeBlock)
	*n = runtime.Node{
		Name: b.uniqueName(t.name), Task: t.name, Pos: callerPos(thread), DefPos: t.defPos,
		Trigger: t.opts.trigger, SkipOnUpstreamSkip: t.opts.skipOnUpstreamSkip,
		Retries: t.opts.retries, RetryDelay: t.opts.retryDelay, Timeout: t.opts.timeout,
		Tags: t.opts.tags, Mapped: mapped, Upstream: upstream, Hooks: b.taskHooks(t),
	}
	body := fromBlock(&b.bodyBlock)
	*body = starBody{fn: t.fn, run: b.run}
	if t.opts.cacheFor > 0 {
		body.cache = &cachePolicy{task: t, ttl: t.opts.cacheFor, key: t.opts.cacheKey}
		if t.opts.cacheKey == nil {
			body.cache.digest = b.flow.env.digestOf(t)
		}
	}
	if err := b.bindArgs(n, body, what, args, kwargs, mapped); err != nil {
		return nil, err
	}
	n.Body = body
	return b.add(n), nil
}

// bindArgs makes body's argument templates of a call's arguments, each
// task result in them an input of n.
func (b *builder) bindArgs(n *runtime.Node, body *starBody, what string, args starlark.Tuple, kwargs []starlark.Tuple, mapped bool) error {
	// Most arguments are one task result or none: room for one input each.
	n.Inputs = take(&b.inputSlab, len(args)+len(kwargs))
	body.args = take(&b.valueSlab, len(args))
	if len(kwargs) > 0 {
		body.kwargs = make([]starlark.Tuple, 0, len(kwargs))
	}
	for _, a := range args {
		v, err := b.arg(n, what, a, mapped)
		if err != nil {
			return err
		}
		body.args = append(body.args, v)
	}
	for _, kv := range kwargs {
		v, err := b.arg(n, what, kv[1], mapped)
		if err != nil {
			return err
		}
		body.kwargs = append(body.kwargs, starlark.Tuple{kv[0], v})
	}
	body.markDynamic(take(&b.boolSlab, len(args)+len(kwargs)))
	if mapped && !hasMappedInput(n) {
		return fmt.Errorf("%s: every argument is unmapped(); give at least one list to map over", what)
	}
	return nil
}

// taskHooks returns t's hooks bound to this run, the same for every call.
func (b *builder) taskHooks(t *Task) []runtime.Hook {
	if len(t.opts.hooks) == 0 {
		return nil
	}
	hs, ok := b.hooks[t]
	if !ok {
		hs = runtimeHooks(t.opts.hooks, t, b.run)
		if b.hooks == nil {
			b.hooks = map[*Task][]runtime.Hook{}
		}
		b.hooks[t] = hs
	}
	return hs
}

func hasMappedInput(n *runtime.Node) bool {
	for _, in := range n.Inputs {
		if in.Map {
			return true
		}
	}
	return false
}

// upstream removes upstream_tasks=[...] from kwargs and returns its nodes.
func (b *builder) upstream(what string, kwargs []starlark.Tuple) ([]starlark.Tuple, []runtime.NodeID, error) {
	var ids []runtime.NodeID
	out := kwargs[:0:0]
	for _, kv := range kwargs {
		if k, _ := starlark.AsString(kv[0]); k != "upstream_tasks" {
			out = append(out, kv)
			continue
		}
		it, ok := kv[1].(starlark.Iterable)
		if !ok {
			return nil, nil, fmt.Errorf("%s: upstream_tasks must be a list of task results, got %s", what, kv[1].Type())
		}
		var err error
		iter := it.Iterate()
		var x starlark.Value
		for iter.Next(&x) {
			ref, ok := x.(*TaskRef)
			if !ok {
				err = fmt.Errorf("%s: upstream_tasks must hold task results, got %s", what, x.Type())
				break
			}
			ids = append(ids, ref.id)
		}
		iter.Done()
		if err != nil {
			return nil, nil, err
		}
	}
	return out, ids, nil
}

// arg turns one argument into its template: each TaskRef in it becomes an
// input of n and a placeholder for that input's value.
func (b *builder) arg(n *runtime.Node, what string, v starlark.Value, mapped bool) (starlark.Value, error) {
	if u, ok := v.(*unmappedValue); ok {
		if !mapped {
			return nil, fmt.Errorf("%s: unmapped() only makes sense in .map()", what)
		}
		v, mapped = u.v, false
	}
	if r, ok := v.(*TaskRef); ok && !mapped { // the common argument, as template makes it
		if r.slot > 0 {
			return r, nil
		}
		return b.newRef(TaskRef{b: r.b, id: r.id, name: r.name, param: r.param, slot: input(n, r.id, false) + 1}), nil
	}
	if !mapped {
		t, err := template(v, func(r *TaskRef) int { return input(n, r.id, false) })
		if err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
		return t, nil
	}
	ref, ok := v.(*TaskRef)
	if !ok {
		if _, ok := v.(starlark.Iterable); !ok {
			return nil, fmt.Errorf("%s: cannot map over %s: want a list, tuple, dict, set, range or task result (wrap constants in unmapped())", what, v.Type())
		}
		var err error
		if ref, err = b.constant(n.Name, v); err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
	}
	// The placeholder stands for one element: the child's own input.
	return b.newRef(TaskRef{b: b, id: ref.id, name: ref.name, slot: input(n, ref.id, true) + 1}), nil
}

// constant adds an inline node whose value is v (with refs resolved), so a
// literal list can be mapped over.
func (b *builder) constant(owner string, v starlark.Value) (*TaskRef, error) {
	n := &runtime.Node{Name: b.uniqueName(owner + ".arg"), Task: "constant", Kind: runtime.ConstNode,
		Pos: callerPos(b.thread), Trigger: runtime.AllSuccessful, SkipOnUpstreamSkip: true}
	t, err := template(v, func(r *TaskRef) int { return input(n, r.id, false) })
	if err != nil {
		return nil, err
	}
	body := &starBody{run: b.run, constant: t}
	n.Body = body
	return b.add(n), nil
}

// checkArity reports, at build time, calls that could never bind to fn's
// parameters.
func checkArity(what string, fn starlark.Callable, nargs int, kwargs []starlark.Tuple) error {
	if c, ok := fn.(interface {
		checkCall(what string, nargs int, kwargs []starlark.Tuple) error
	}); ok {
		return c.checkCall(what, nargs, kwargs)
	}
	f, ok := fn.(*starlark.Function)
	if !ok {
		return nil
	}
	np := f.NumParams()
	if f.HasKwargs() {
		np--
	}
	if f.HasVarargs() {
		np--
	}
	if !f.HasVarargs() && nargs > f.NumParams()-f.NumKwonlyParams()-boolInt(f.HasKwargs())-boolInt(f.HasVarargs()) {
		return fmt.Errorf("%s: got %d positional arguments, want at most %d", what, nargs, f.NumParams()-f.NumKwonlyParams()-boolInt(f.HasKwargs())-boolInt(f.HasVarargs()))
	}
	if len(kwargs) == 0 {
		// The common call: the first nargs parameters are given, the
		// others need their defaults. No map of the names given.
		for i := nargs; i < np; i++ {
			if f.ParamDefault(i) == nil {
				name, _ := f.Param(i)
				return fmt.Errorf("%s: missing argument for %s", what, name)
			}
		}
		return nil
	}
	given := make(map[string]bool)
	for i := 0; i < nargs && i < np; i++ {
		name, _ := f.Param(i)
		given[name] = true
	}
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		if !hasParam(f, k, np) && !f.HasKwargs() {
			return fmt.Errorf("%s: unexpected keyword argument %q", what, k)
		}
		given[k] = true
	}
	for i := range np {
		name, _ := f.Param(i)
		if !given[name] && f.ParamDefault(i) == nil {
			return fmt.Errorf("%s: missing argument for %s", what, name)
		}
	}
	return nil
}

func hasParam(f *starlark.Function, name string, np int) bool {
	for i := range np {
		if p, _ := f.Param(i); p == name {
			return true
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
