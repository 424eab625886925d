package builtins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// starBody runs a task's function in a Starlark thread of its own, with the
// arguments recorded at build time and each TaskRef replaced by the result
// of its node.
type starBody struct {
	fn       starlark.Callable
	args     starlark.Tuple   // templates: placeholders stand for inputs
	kwargs   []starlark.Tuple // (name, template) pairs
	dynamic  []bool           // per argument, then per kwarg: holds placeholders
	run      *runInfo
	constant starlark.Value // for constant nodes: the value to assemble
	cache    *cachePolicy   // @task(cache_for=...): nil for the others
}

// input adds a data edge from id to n (once) and returns its position in
// n.Inputs.
func input(n *runtime.Node, id runtime.NodeID, mapped bool) int {
	for i, in := range n.Inputs {
		if in.From == id && in.Map == mapped {
			return i
		}
	}
	n.Inputs = append(n.Inputs, runtime.Input{From: id, Map: mapped})
	return len(n.Inputs) - 1
}

// markDynamic records, in dynamic (empty, of room for every argument),
// which arguments need their placeholders filled at run time; the others
// are passed as they are.
func (s *starBody) markDynamic(dynamic []bool) {
	s.dynamic = dynamic
	for _, a := range s.args {
		s.dynamic = append(s.dynamic, hasRefs(a))
	}
	for _, kv := range s.kwargs {
		s.dynamic = append(s.dynamic, hasRefs(kv[1]))
	}
}

// fill returns template number i with its placeholders filled.
func (s *starBody) fill(i int, v starlark.Value, inputs []runtime.Value) (starlark.Value, error) {
	if !s.dynamic[i] {
		return v, nil
	}
	return substitute(v, inputs)
}

func (s *starBody) freeze() {
	s.args.Freeze()
	for _, kv := range s.kwargs {
		kv.Freeze()
	}
	if s.constant != nil {
		s.constant.Freeze()
	}
}

// Run calls the task's function. Cancelling ctx cancels the thread, which
// stops even a runaway loop at its next step.
func (s *starBody) Run(ctx context.Context, c *runtime.Call) (_ runtime.Value, err error) {
	// A defect of wfsh met while running the body fails this task run
	// with one line, not the process with a Go stack.
	defer func() {
		if p := recover(); p != nil {
			err = InternalError(p)
		}
	}()
	if s.constant != nil {
		v, err := substitute(s.constant, c.Inputs)
		if err != nil {
			return nil, err
		}
		v.Freeze()
		return v, nil
	}
	args, kwargs, err := s.fillAll(c.Inputs)
	if err != nil {
		return nil, err
	}
	tt := threadPool.Get().(*taskThread)
	tt.thread.Name = c.TaskRun
	tt.run = taskRun{call: c, run: s.run, ctx: ctx}
	// The first step looks at ctx, then every cancelCheckSteps steps
	// (watchCancel): no registration with ctx per task run.
	tt.thread.SetMaxExecutionSteps(tt.thread.Steps + 1)
	v, err := starlark.Call(&tt.thread, s.fn, args, kwargs)
	if !tt.cancelled {
		// The thread was never cancelled: it can serve another task run.
		tt.run = taskRun{}
		threadPool.Put(tt)
	}
	if err != nil {
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			c.Log(runtime.Debug, ee.Backtrace())
		}
		return nil, located(c, taskError(err))
	}
	v.Freeze()
	return v, nil
}

// located gives an error without a position in the flow (a plugin
// task's, whose body is Go code) the position of the task's definition,
// where a Starlark task's failure points inside its function.
func located(c *runtime.Call, err error) error {
	var pe *runtime.PosError
	var sig *runtime.Signal
	if errors.As(err, &pe) || errors.As(err, &sig) || c.Node == nil || !c.Node.DefPos.IsValid() {
		return err
	}
	return &runtime.PosError{Pos: c.Node.DefPos, Msg: err.Error()}
}

// fillAll returns the arguments of a call with the inputs' values.
func (s *starBody) fillAll(inputs []runtime.Value) (starlark.Tuple, []starlark.Tuple, error) {
	args := make(starlark.Tuple, len(s.args))
	for i, a := range s.args {
		v, err := s.fill(i, a, inputs)
		if err != nil {
			return nil, nil, err
		}
		args[i] = v
	}
	var kwargs []starlark.Tuple
	if len(s.kwargs) > 0 {
		kwargs = make([]starlark.Tuple, len(s.kwargs))
		for i, kv := range s.kwargs {
			v, err := s.fill(len(s.args)+i, kv[1], inputs)
			if err != nil {
				return nil, nil, err
			}
			kwargs[i] = starlark.Tuple{kv[0], v}
		}
	}
	return args, kwargs, nil
}

// taskThread is a Starlark thread with its task run in its locals. Threads
// are pooled: a trivial task body costs less than a fresh thread.
type taskThread struct {
	thread    starlark.Thread
	run       taskRun
	cancelled bool
}

var threadPool = sync.Pool{New: func() any {
	tt := &taskThread{}
	tt.thread.Print = printToLog
	tt.thread.OnMaxSteps = tt.watchCancel
	tt.thread.SetLocal(localTask, &tt.run)
	return tt
}}

// cancelCheckSteps is how many Starlark steps a task body runs between two
// looks at its context: a few microseconds of work, so that a cancelled or
// timed-out body stops promptly, even in a runaway loop.
const cancelCheckSteps = 1024

// watchCancel is the thread's OnMaxSteps: it cancels the thread once the
// task run's context is done, and otherwise grants the next steps. Polling
// from the thread itself costs a task run nothing when it is not cancelled,
// where registering a callback with the context (context.AfterFunc) took
// the context's lock twice per task run, shared by every worker.
func (tt *taskThread) watchCancel(thread *starlark.Thread) {
	if ctx := tt.run.ctx; ctx != nil && ctx.Err() != nil {
		tt.cancelled = true
		thread.Cancel(context.Cause(ctx).Error())
		return
	}
	thread.SetMaxExecutionSteps(thread.Steps + cancelCheckSteps)
}

// printToLog sends print() output to the running task's log.
func printToLog(thread *starlark.Thread, msg string) {
	if tr := taskRunOf(thread); tr != nil && tr.call != nil {
		tr.call.Log(runtime.Info, msg)
	}
}

// skipSignal is the error skip() returns to end a task run as Skipped.
type skipSignal struct{ msg string }

func (s *skipSignal) Error() string { return "skip: " + s.msg }

// taskError turns a body's error into the runtime's terms: skip() becomes
// a Skipped signal; a Starlark error gets the position of the innermost
// line of flow code.
func taskError(err error) error {
	var skip *skipSignal
	if errors.As(err, &skip) {
		return &runtime.Signal{State: runtime.Skipped, Msg: skip.msg}
	}
	return positioned(err)
}

// positioned renders a Starlark error as "file:line:col: message".
func positioned(err error) error {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		return err
	}
	stack := ee.CallStack
	for i := len(stack) - 1; i >= 0; i-- {
		if p := stack[i].Pos; p.IsValid() && p.Filename() != "<builtin>" {
			return &runtime.PosError{Pos: toPos(p), Msg: cleanMsg(ee.Msg)}
		}
	}
	return errors.New(cleanMsg(ee.Msg))
}

func cleanMsg(msg string) string {
	return strings.TrimPrefix(explainTaskRef(msg), "Starlark computation cancelled: ")
}

// skip ends the running task as Skipped.
func skip(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	msg := "skipped by the task"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "msg?", &msg); err != nil {
		return nil, err
	}
	if taskRunOf(thread) == nil {
		return nil, fmt.Errorf("skip: only inside a task body")
	}
	return nil, &skipSignal{msg}
}
