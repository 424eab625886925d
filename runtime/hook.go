package runtime

import (
	"context"
	"fmt"
	"time"
)

// HookOn names the states a hook is called for: the keyword that declared
// it (@task(on_failure=[...])).
type HookOn uint8

const (
	OnSuccess      HookOn = iota // Success or Cached
	OnFailure                    // Failed, TriggerFailed, TimedOut or Crashed
	OnCompletion                 // any final state
	OnRetry                      // each Retrying
	OnCancellation               // Cancelled
)

var hookOnNames = [...]string{"on_success", "on_failure", "on_completion", "on_retry", "on_cancellation"}

func (h HookOn) String() string { return hookOnNames[h] }

// Fires reports whether a run entering st calls the hooks of kind h.
func (h HookOn) Fires(st State) bool {
	switch h {
	case OnSuccess:
		return st == Success || st == Cached
	case OnFailure:
		return st == Failed || st == TriggerFailed || st == TimedOut || st == Crashed
	case OnCompletion:
		return st.Finished()
	case OnRetry:
		return st == Retrying
	case OnCancellation:
		return st == Cancelled
	}
	return false
}

// Hook is a function called when a task run or the flow run enters a
// state of its kind (Prefect's state hooks). What it returns changes
// nothing: an error is logged.
type Hook struct {
	On   HookOn
	Name string // the function's, for the log
	Fn   func(ctx context.Context, h *HookCall) error
}

// HookCall is what a hook is told.
type HookCall struct {
	// Call is the task run as its body saw it (its last attempt); for a
	// flow hook, Node is nil and TaskRun empty. Log sends a line to the
	// run's log.
	Call   Call
	State  State
	Msg    string
	Result Value
}

// DefaultHookTimeout bounds each hook call when Options.HookTimeout is 0.
const DefaultHookTimeout = time.Minute

// firesHooks reports whether r entering st calls hooks. A mapped task's
// own run calls none: each of its children does.
func (x *executor) firesHooks(r *run, st State) bool {
	return len(r.node.Hooks) > 0 && r.children == nil && hooksFire(r.node.Hooks, st)
}

// hooksThen starts the hooks of r's node that st calls, beside the run;
// once they have returned, it calls then(r) under sched, so that what
// follows the state (the next attempt, the runs waiting for r) follows
// its hooks too. It holds sched.
func (x *executor) hooksThen(r *run, st State, msg string, v Value, then func(*run)) {
	hc := &HookCall{Call: x.newCall(r), State: st, Msg: msg, Result: v}
	x.hooks.Add(1)
	go func() {
		defer x.hooks.Done()
		x.hookSlots <- struct{}{}
		x.runHooks(r.node.Hooks, hc)
		<-x.hookSlots
		x.sched.Lock()
		defer x.sched.Unlock()
		if x.closing { // abandoned: the run is over
			return
		}
		then(r)
		x.settle()
	}()
}

func hooksFire(hooks []Hook, st State) bool {
	for _, h := range hooks {
		if h.On.Fires(st) {
			return true
		}
	}
	return false
}

// runHooks calls, in order, the hooks that hc's state calls.
func (x *executor) runHooks(hooks []Hook, hc *HookCall) {
	for _, h := range hooks {
		if h.On.Fires(hc.State) {
			x.callHook(h, hc)
		}
	}
}

// callHook calls one hook under its own deadline, not the run's: a
// cancelled run still calls its on_cancellation hooks.
func (x *executor) callHook(h Hook, hc *HookCall) {
	c := &hc.Call
	c.Log(Info, fmt.Sprintf("Running %s hook %s for state %s", h.On, h.Name, hc.State))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.ctx), x.opt.HookTimeout)
	defer cancel()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("hook panicked: %v", p)
			}
		}()
		return h.Fn(ctx, hc)
	}()
	if err != nil {
		c.Log(Error, fmt.Sprintf("%s hook %s failed (the state stays %s): %v", h.On, h.Name, hc.State, err))
	}
}

// flowHooks calls the flow's hooks for its final state.
func (x *executor) flowHooks(res *Result) {
	if len(x.g.Hooks) == 0 {
		return
	}
	hc := &HookCall{Call: Call{RunID: x.opt.RunID, Flow: x.g.Flow, MapIndex: -1, Params: x.opt.Params, x: x}, State: res.State, Msg: res.Msg}
	x.runHooks(x.g.Hooks, hc)
}
