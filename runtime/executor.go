package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Options configure one run of a Graph.
type Options struct {
	RunID string
	// Concurrency bounds the task bodies running at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	Sink        Sink
	// Mocks replace the named nodes' runs with a given state and result
	// (the REPL's task_states).
	Mocks map[NodeID]Mock
	// SubMocks mock task runs inside child flow runs: by subflow node,
	// the mocks of every child run it makes (and of theirs).
	SubMocks map[NodeID]*ChildMocks
	Redactor *Redactor
	// CancelGrace bounds how long a cancelled run waits for bodies that
	// ignore cancellation; 0 means 10s.
	CancelGrace time.Duration
	// Cache, if set, may give task runs a result instead of running
	// their bodies (resume, @task(cache_for=...)).
	Cache Cache
	// HookTimeout bounds each state hook call; 0 means DefaultHookTimeout.
	HookTimeout time.Duration
	// Params, if set, are the values of Graph.Params, in order, in place
	// of what their bodies return: a child flow run's parameters.
	Params []Value
	// Parent is the flow run and subflow node this run is the child of
	// (zero for a top-level run); the run's events carry it.
	Parent Parent
	// Subflows, if set, is told of each child flow run (subflow.go).
	Subflows Subflows
	// Limiter, if set, holds each attempt of a tagged task run back until
	// it has a slot of its tags' concurrency limits (Graph.Limits and
	// whatever the limiter knows besides). Unset, Graph.Limits hold
	// within the run (a Slots of its own).
	Limiter Limiter
}

// Limiter gives task runs the slots of the concurrency limits on their
// tags.
type Limiter interface {
	// Acquire returns once c's task run holds a slot of each limit on
	// c.Node.Tags, or with ctx's error. release frees them: it is called
	// once the attempt's body has returned, however it ended.
	Acquire(ctx context.Context, c *Call) (release func(), err error)
}

// Cache lets a run reuse results rather than run bodies again.
type Cache interface {
	// Lookup is asked before the first attempt of each task run (mapped
	// children included), with its inputs resolved. ok means the body is
	// not run: the run ends Cached, with msg and result v.
	Lookup(ctx context.Context, c *Call) (v Value, msg string, ok bool)
	// Store is told of each body that succeeded, with its result, before
	// the run's Success is reported.
	Store(c *Call, v Value)
}

// DefaultConcurrency suits tasks that mostly wait on I/O (plugins, shell),
// while keeping CPU-bound Starlark bodies from thrashing two cores.
func DefaultConcurrency() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// ChildMocks are the mocks of a subflow node's child runs: of their
// nodes, and of their own subflows' child runs.
type ChildMocks struct {
	Mocks map[NodeID]Mock
	Sub   map[NodeID]*ChildMocks
}

// Mock is a state given to a node instead of running it.
type Mock struct {
	State  State
	Msg    string
	Result Value
}

// Signal is an error a body returns to end its run in a given state rather
// than Failed (skip() returns Skipped).
type Signal struct {
	State State
	Msg   string
}

func (s *Signal) Error() string { return s.State.String() + ": " + s.Msg }

// Result is the outcome of a run.
type Result struct {
	RunID string
	State State
	Msg   string
	Tasks []TaskResult // indexed by NodeID
	// Value is the flow's result, as Graph.Returns makes it of its
	// reference tasks' results.
	Value Value
}

// TaskResult is the final state of one node (with its children if mapped).
type TaskResult struct {
	Name     string
	State    State
	Msg      string
	Value    Value
	Attempts int
	Children []TaskResult
	// Sub is a subflow node's child flow run, once it ran.
	Sub *Result
}

type run struct {
	node     *Node
	index    int // map index, -1 for a node's own run
	parent   *run
	name     string
	state    State
	msg      string
	value    Value
	attempt  int
	waiting  int // unfinished dependencies
	children []*run
	left     int     // unfinished children
	inputs   []Value // resolved at dispatch
	timer    *time.Timer
	call     Call    // what the body sees, reused across attempts
	sub      *Result // a subflow node's child run (its last attempt's)
}

type outcome struct {
	r        *run
	value    Value
	err      error
	timedOut bool
	// release gives back the attempt's slots of concurrency limits: once
	// its end is recorded, so that no other task run is Running in its
	// slot before it has ended.
	release func()
}

type executor struct {
	g    *Graph
	opt  Options
	ctx  context.Context
	runs []*run

	deps       [][]NodeID // Graph.Deps of each node, computed once
	dependents [][]NodeID
	unblocked  []*run // FIFO: runs are considered in the order they unblock
	ready      []*run
	readyHead  int
	unfinished int
	cancelled  bool

	sched    sync.Mutex // guards the scheduling state above
	wake     *sync.Cond // on sched: idle workers wait for ready runs
	idle     int        // workers waiting on wake
	closing  bool       // every run is final (or abandoned): workers exit
	finished chan struct{}

	mu  sync.Mutex // serialises emit
	seq uint64

	hooks     sync.WaitGroup // task runs' hook calls under way
	hookSlots chan struct{}  // bounds them as Concurrency bounds bodies
}

// errFlowTimedOut is why a run past its Graph.Timeout is cancelled.
var errFlowTimedOut = errors.New("flow run timed out")

// Run executes g and returns when every task run is final. Cancelling ctx
// cancels running bodies and marks every unfinished run Cancelled.
func Run(ctx context.Context, g *Graph, opt Options) *Result {
	if g.Timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, g.Timeout, errFlowTimedOut)
		defer stop()
	}
	x := newExecutor(ctx, g, opt)
	x.emit(Event{Kind: FlowStarted, Node: NoNode, MapIndex: -1, Msg: g.Flow})
	x.sched.Lock()
	x.settle()
	x.sched.Unlock()
	var wg sync.WaitGroup
	for range x.opt.Concurrency {
		wg.Go(x.work)
	}
	if x.wait() {
		wg.Wait()
	}
	x.hooks.Wait()
	res := x.result()
	x.flowHooks(res)
	x.emit(Event{Kind: FlowFinished, Node: NoNode, MapIndex: -1, State: res.State, Msg: res.Msg})
	return res
}

func newExecutor(ctx context.Context, g *Graph, opt Options) *executor {
	if opt.Limiter == nil && len(g.Limits) > 0 {
		opt.Limiter = new(Slots).Limiter(g.Limits)
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency()
	}
	if opt.Sink == nil {
		opt.Sink = Discard
	}
	if opt.CancelGrace <= 0 {
		opt.CancelGrace = 10 * time.Second
	}
	if opt.HookTimeout <= 0 {
		opt.HookTimeout = DefaultHookTimeout
	}
	ExpectTasks(len(g.Nodes))
	x := &executor{
		g: g, opt: opt, ctx: ctx,
		runs:       make([]*run, len(g.Nodes)),
		deps:       make([][]NodeID, len(g.Nodes)),
		dependents: make([][]NodeID, len(g.Nodes)),
		finished:   make(chan struct{}),
		unfinished: len(g.Nodes),
		hookSlots:  make(chan struct{}, opt.Concurrency),
	}
	// One allocation for every node's run, rather than one each: a run is
	// large (it holds its Call), and W3 has 10,000 of them.
	runs := make([]run, len(g.Nodes))
	for _, n := range g.Nodes {
		deps := g.Deps(n)
		x.deps[n.ID] = deps
		runs[n.ID] = run{node: n, index: -1, name: n.Name, waiting: len(deps)}
		x.runs[n.ID] = &runs[n.ID]
		for _, d := range deps {
			x.dependents[d] = append(x.dependents[d], n.ID)
		}
	}
	for _, r := range x.runs {
		if r.waiting == 0 {
			x.unblocked = append(x.unblocked, r)
		}
	}
	x.wake = sync.NewCond(&x.sched)
	return x
}

// wait returns when every run is final. It returns false when it gave up
// waiting for bodies that ignored cancellation.
func (x *executor) wait() bool {
	select {
	case <-x.finished:
		return true
	case <-x.ctx.Done():
	}
	x.sched.Lock()
	if !x.cancelled {
		x.cancel()
	}
	x.settle()
	x.sched.Unlock()
	select {
	case <-x.finished:
		return true
	case <-time.After(x.opt.CancelGrace):
	}
	x.sched.Lock()
	defer x.sched.Unlock()
	if x.closing {
		return true
	}
	x.abandon()
	x.drain()
	x.endWaiting()
	x.close()
	return false
}

// settle considers what unblocked, then wakes workers for the ready runs
// or ends the run. It holds sched.
func (x *executor) settle() {
	x.drain()
	if x.unfinished == 0 {
		x.close()
		return
	}
	for n := len(x.ready) - x.readyHead; n > 0 && x.idle > 0; n-- {
		x.idle--
		x.wake.Signal()
	}
}

func (x *executor) close() {
	if !x.closing {
		x.closing = true
		x.wake.Broadcast()
		close(x.finished)
	}
}

// work runs ready runs until the flow run is over: it takes a run, runs
// its body without the lock, and records the outcome itself, so that a
// chain of tasks runs on one goroutine without hand-offs.
func (x *executor) work() {
	x.sched.Lock()
	defer x.sched.Unlock()
	for {
		r := x.next()
		for r == nil {
			if x.closing {
				return
			}
			x.idle++
			x.wake.Wait()
			r = x.next()
		}
		if x.closing {
			return
		}
		if r.attempt == 0 && x.opt.Cache != nil {
			hit := x.reuse(r)
			if x.closing {
				return
			}
			if hit {
				x.settle()
				continue
			}
		}
		r.attempt++
		if !x.limited(r) {
			x.emitState(r, Running, "", nil)
		}
		x.sched.Unlock()
		o := x.exec(r)
		if o.err == nil && x.opt.Cache != nil {
			x.opt.Cache.Store(&r.call, o.value)
		}
		x.sched.Lock()
		if x.closing {
			if o.release != nil {
				o.release() // abandoned: nothing else will run
			}
			return
		}
		if !x.cancelled && x.ctx.Err() != nil {
			x.cancel() // before the outcome unblocks anything
		}
		x.complete(o)
		x.settle()
		if o.release != nil {
			x.sched.Unlock()
			o.release()
			x.sched.Lock()
			if x.closing {
				return
			}
		}
	}
}

// reuse asks the cache for r's result, without the lock, and ends r
// Cached if it has one. It holds sched.
func (x *executor) reuse(r *run) bool {
	c := x.call(r)
	c.Attempt = 1
	x.sched.Unlock()
	v, msg, ok := x.opt.Cache.Lookup(x.ctx, c)
	x.sched.Lock()
	if !ok || x.closing {
		return false
	}
	if x.cancelled {
		x.finish(r, Cancelled, "flow run cancelled", nil)
		return true
	}
	x.finish(r, Cached, msg, v)
	return true
}

// next pops the oldest ready run, or returns nil.
func (x *executor) next() *run {
	if x.readyHead == len(x.ready) {
		return nil
	}
	r := x.ready[x.readyHead]
	x.ready[x.readyHead] = nil
	x.readyHead++
	if x.readyHead == len(x.ready) {
		x.ready, x.readyHead = x.ready[:0], 0
	}
	return r
}

// drain considers every run whose dependencies have all finished, oldest
// first, so that with one worker runs start in the order they were built.
func (x *executor) drain() {
	for i := 0; i < len(x.unblocked); i++ {
		r := x.unblocked[i]
		x.unblocked[i] = nil
		x.consider(r)
	}
	x.unblocked = x.unblocked[:0]
}

func (x *executor) enqueue(r *run) {
	if x.cancelled {
		x.finish(r, Cancelled, "flow run cancelled", nil)
		return
	}
	x.ready = append(x.ready, r)
}

// consider decides what happens to a node run whose dependencies are final.
func (x *executor) consider(r *run) {
	n := r.node
	if x.cancelled {
		x.finish(r, Cancelled, "flow run cancelled", nil)
		return
	}
	if m, ok := x.opt.Mocks[n.ID]; ok {
		x.finish(r, m.State, m.Msg, m.Result)
		return
	}
	if st, msg, ok := x.gate(n, x.upstreamStates(n, nil, -1)); !ok {
		x.finish(r, st, msg, nil)
		return
	}
	if st, msg, ok := x.checkGuards(n); !ok {
		x.finish(r, st, msg, nil)
		return
	}
	if n.Mapped {
		x.expand(r)
		return
	}
	r.inputs = x.inputs(n)
	if !n.Kind.IsTask() {
		x.runInline(r)
		return
	}
	x.enqueue(r)
}

// upstreamStates lists the final states of n's dependencies. For a mapped
// child (index >= 0) an element-wise dependency gives its own child's
// state; for the mapped node itself (child == nil, index -1) element-wise
// dependencies are left to the children.
func (x *executor) upstreamStates(n *Node, child *run, index int) []State {
	deps := x.deps[n.ID]
	up := make([]State, 0, len(deps))
	for _, d := range deps {
		src := x.runs[d]
		if n.Mapped && x.elementWise(n, d) {
			if index < 0 {
				continue
			}
			up = append(up, src.children[index].state)
			continue
		}
		up = append(up, src.state)
	}
	return up
}

// elementWise reports whether n maps over the children of mapped node d.
func (x *executor) elementWise(n *Node, d NodeID) bool {
	if x.runs[d].children == nil {
		return false
	}
	for _, in := range n.Inputs {
		if in.From == d && in.Map {
			return true
		}
	}
	return false
}

// gate applies skip propagation and the trigger.
func (x *executor) gate(n *Node, up []State) (State, string, bool) {
	if n.SkipOnUpstreamSkip && !n.Trigger.AcceptsSkip {
		for _, s := range up {
			if s == Skipped {
				return Skipped, "upstream task was skipped", false
			}
		}
	}
	if n.Trigger.Fn != nil && !n.Trigger.Fn(up) {
		return TriggerFailed, fmt.Sprintf("trigger %s was not met by upstream states %s", n.Trigger.Name, statesString(up)), false
	}
	return Pending, "", true
}

func (x *executor) checkGuards(n *Node) (State, string, bool) {
	for _, gd := range n.Guards {
		cond := x.runs[gd.Cond]
		if !cond.state.Successful() {
			return Skipped, fmt.Sprintf("condition %s %s not met: it ended %s", cond.name, gd.Label, cond.state), false
		}
		ok, err := gd.Match(cond.value)
		if err != nil {
			return Failed, err.Error(), false
		}
		if !ok {
			return Skipped, fmt.Sprintf("condition not met: %s %s is false", cond.name, gd.Label), false
		}
	}
	return Pending, "", true
}

func statesString(up []State) string {
	s := "["
	for i, st := range up {
		if i > 0 {
			s += ", "
		}
		s += st.String()
	}
	return s + "]"
}

func (x *executor) inputs(n *Node) []Value {
	vals := make([]Value, len(n.Inputs))
	for i, in := range n.Inputs {
		vals[i] = x.runs[in.From].value
	}
	return vals
}

func (x *executor) runInline(r *run) {
	r.attempt = 1
	x.emitState(r, Running, "", nil)
	v, err := x.inline(r)
	if err != nil {
		x.finish(r, Failed, err.Error(), nil)
		return
	}
	x.finish(r, Success, "", v)
}

func (x *executor) call(r *run) *Call {
	r.call = x.newCall(r)
	return &r.call
}

// newCall is what r's body is told of its run, as it stands.
func (x *executor) newCall(r *run) Call {
	return Call{RunID: x.opt.RunID, Flow: x.g.Flow, Node: r.node, TaskRun: r.name,
		MapIndex: r.index, Attempt: r.attempt, Inputs: r.inputs, Params: x.opt.Params, x: x, r: r}
}

// limited says whether r's attempts take slots of concurrency limits
// first: they are Running once they hold them.
func (x *executor) limited(r *run) bool {
	return x.opt.Limiter != nil && len(r.node.Tags) > 0
}

func (x *executor) exec(r *run) (o outcome) {
	o.r = r
	if x.limited(r) {
		release, err := x.opt.Limiter.Acquire(x.ctx, x.call(r))
		x.sched.Lock()
		x.emitState(r, Running, "", nil)
		x.sched.Unlock()
		if err != nil {
			o.err = err
			return o
		}
		o.release = release
	}
	ctx := x.ctx
	if t := r.node.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			o.err = fmt.Errorf("task body panicked: %v", p)
		}
	}()
	if r.node.Kind == FlowNode {
		o.value, o.err = x.runChild(ctx, r)
	} else {
		o.value, o.err = r.node.Body.Run(ctx, x.call(r))
	}
	o.timedOut = o.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && x.ctx.Err() == nil
	return o
}

func (x *executor) complete(o outcome) {
	r := o.r
	var sig *Signal
	switch {
	case o.err == nil:
		x.finish(r, Success, "", o.value)
	case errors.As(o.err, &sig):
		x.finish(r, sig.State, sig.Msg, nil)
	case x.cancelled || x.ctx.Err() != nil:
		x.finish(r, Cancelled, "flow run cancelled", nil)
	default:
		st, msg := Failed, o.err.Error()
		if o.timedOut {
			st, msg = TimedOut, fmt.Sprintf("task timed out after %s", r.node.Timeout)
			if p := r.node.DefPos; p.IsValid() {
				msg = p.String() + ": " + msg
			}
		}
		x.retryOrFinish(r, st, msg)
	}
}

func (x *executor) retryOrFinish(r *run, st State, msg string) {
	if r.attempt > r.node.Retries {
		x.finish(r, st, msg, nil)
		return
	}
	retryMsg := fmt.Sprintf("%s (attempt %d of %d, retrying in %s)", msg, r.attempt, r.node.Retries+1, r.node.RetryDelay)
	x.emitState(r, Retrying, retryMsg, nil)
	if x.firesHooks(r, Retrying) {
		x.hooksThen(r, Retrying, retryMsg, nil, x.retry)
		return
	}
	x.retry(r)
}

// retry runs r again after its retry delay.
func (x *executor) retry(r *run) {
	d := r.node.RetryDelay
	if d <= 0 {
		x.enqueue(r)
		return
	}
	r.timer = time.AfterFunc(d, func() {
		x.sched.Lock()
		defer x.sched.Unlock()
		if r.timer == nil || x.closing {
			return
		}
		r.timer = nil
		x.enqueue(r)
		x.settle()
	})
}

// finish records a run's final state and, once its hooks have returned,
// unblocks what waits for it.
func (x *executor) finish(r *run, st State, msg string, v Value) {
	r.state, r.msg, r.value = st, msg, v
	x.emitState(r, st, msg, v)
	if x.firesHooks(r, st) {
		x.hooksThen(r, st, msg, v, x.release)
		return
	}
	x.release(r)
}

// release counts r as final and unblocks what waits for it.
func (x *executor) release(r *run) {
	if r.parent != nil {
		r.parent.left--
		if r.parent.left == 0 {
			x.finishMapped(r.parent)
		}
		return
	}
	x.unfinished--
	for _, d := range x.dependents[r.node.ID] {
		dr := x.runs[d]
		dr.waiting--
		if dr.waiting == 0 {
			x.unblocked = append(x.unblocked, dr)
		}
	}
}

func (x *executor) cancel() {
	x.cancelled = true
	for i := x.readyHead; i < len(x.ready); i++ {
		x.finish(x.ready[i], Cancelled, "flow run cancelled", nil)
	}
	x.ready, x.readyHead = x.ready[:0], 0
	for _, r := range x.runs {
		x.cancelTimers(r)
	}
}

func (x *executor) cancelTimers(r *run) {
	if r.timer != nil && r.timer.Stop() {
		r.timer = nil
		x.finish(r, Cancelled, "flow run cancelled", nil)
	}
	for _, c := range r.children {
		x.cancelTimers(c)
	}
}

// abandon ends the runs whose bodies ignored cancellation as Cancelled.
func (x *executor) abandon() {
	var walk func(r *run)
	walk = func(r *run) {
		for _, c := range r.children {
			walk(c)
		}
		if r.state == Running || r.state == Retrying {
			x.finish(r, Cancelled, "task body ignored cancellation", nil)
		}
	}
	for _, r := range x.runs {
		walk(r)
	}
}

// endWaiting ends as Cancelled, once the run is abandoned, the runs still
// waiting for a task run whose hooks have not returned: nothing will
// release them. Their hooks are not called.
func (x *executor) endWaiting() {
	var walk func(r *run)
	walk = func(r *run) {
		for _, c := range r.children {
			walk(c)
		}
		if r.state == Pending {
			r.state, r.msg = Cancelled, "flow run cancelled"
			x.emitState(r, Cancelled, r.msg, nil)
		}
	}
	for _, r := range x.runs {
		walk(r)
	}
}

func (x *executor) result() *Result {
	res := &Result{RunID: x.opt.RunID, Tasks: make([]TaskResult, len(x.runs))}
	for i, r := range x.runs {
		res.Tasks[i] = x.taskResult(r)
	}
	res.State, res.Msg = x.flowState()
	res.Value = x.flowValue()
	res.Msg = x.opt.Redactor.Redact(res.Msg)
	return res
}

// taskResult is r's outcome, its message masked as its events' are.
func (x *executor) taskResult(r *run) TaskResult {
	tr := TaskResult{Name: r.name, State: r.state, Msg: x.opt.Redactor.Redact(r.msg), Value: r.value, Attempts: r.attempt, Sub: r.sub}
	if r.children != nil {
		tr.Children = make([]TaskResult, len(r.children))
		for i, c := range r.children {
			tr.Children[i] = x.taskResult(c)
		}
	}
	return tr
}

func (x *executor) flowState() (State, string) {
	if x.cancelled && errors.Is(context.Cause(x.ctx), errFlowTimedOut) {
		return Failed, fmt.Sprintf("Flow run timed out after %s.", x.g.Timeout)
	}
	if x.cancelled {
		return Cancelled, "Flow run was cancelled."
	}
	for _, id := range x.g.References() {
		if !x.runs[id].state.Successful() {
			return Failed, "Some reference tasks failed."
		}
	}
	return Success, "All reference tasks succeeded."
}
