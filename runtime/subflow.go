package runtime

import (
	"context"
	"fmt"
)

// Parent names the flow run and the subflow node a child flow run is for.
type Parent struct {
	RunID   string
	TaskRun string // the subflow node's run name, "[i]" for a mapped child
}

// Subflows is told of each child flow run of a run (and of their own
// children): what records a run records its children through it.
type Subflows interface {
	// Begin is called before a child flow run starts, with the Call of
	// its subflow node (ctx the attempt's) and the options the executor
	// made for it: this run's, with the child's RunID, Parent and
	// Params, and no mocks nor cache. It returns them with what it
	// changes (a sink that also records the child run, say); an error
	// fails the subflow node's attempt.
	Begin(ctx context.Context, c *Call, g *Graph, opt Options) (Options, error)
	// End is called once the child run has ended.
	End(c *Call, res *Result)
}

// runChild runs a subflow node's attempt: its body gives the child flow's
// parameters, then the child flow runs under a run id of its own. The
// node succeeds with the child's result when the child succeeds.
func (x *executor) runChild(ctx context.Context, r *run) (Value, error) {
	c := x.call(r)
	g := r.node.Sub
	v, err := r.node.Body.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	params, err := x.g.Values.Split(v)
	if err != nil || len(params) != len(g.Params) {
		return nil, fmt.Errorf("subflow %s: its call gave %d parameter values for %d parameters (%v)", g.Flow, len(params), len(g.Params), err)
	}
	opt := x.opt
	opt.RunID, opt.Params, opt.Mocks, opt.SubMocks, opt.Cache = NewRunID(), params, nil, nil, nil
	if cm := x.opt.SubMocks[r.node.ID]; cm != nil {
		opt.Mocks, opt.SubMocks = cm.Mocks, cm.Sub
	}
	opt.Parent = Parent{RunID: x.opt.RunID, TaskRun: r.name}
	if x.opt.Subflows != nil {
		if opt, err = x.opt.Subflows.Begin(ctx, c, g, opt); err != nil {
			return nil, err
		}
	}
	c.Log(Info, fmt.Sprintf("child flow run %s of flow %s", opt.RunID, g.Flow))
	res := Run(ctx, g, opt)
	if x.opt.Subflows != nil {
		x.opt.Subflows.End(c, res)
	}
	x.sched.Lock()
	r.sub = res
	x.sched.Unlock()
	switch {
	case res.State.Successful():
		return res.Value, nil
	case res.State == Cancelled && ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("child flow run %s of flow %s ended %s: %s", res.RunID, g.Flow, res.State, res.Msg)
}

// inline runs an inline node's body; a parameter node of a child run
// gives the value its subflow node's call gave.
func (x *executor) inline(r *run) (Value, error) {
	if r.node.Kind == ParamNode && x.opt.Params != nil {
		for i, id := range x.g.Params {
			if id == r.node.ID && i < len(x.opt.Params) {
				return x.opt.Params[i], nil
			}
		}
	}
	return r.node.Body.Run(x.ctx, x.call(r))
}

// flowValue is the flow run's result, made of its reference tasks'
// results as Graph.Returns says.
func (x *executor) flowValue() Value {
	switch x.g.Returns {
	case ReturnsOne:
		if len(x.g.Reference) == 1 {
			return x.runs[x.g.Reference[0]].value
		}
	case ReturnsList:
		vals := make([]Value, len(x.g.Reference))
		for i, id := range x.g.Reference {
			vals[i] = x.runs[id].value
		}
		if x.g.Values == nil {
			return vals
		}
		return x.g.Values.Join(vals)
	}
	return nil
}
