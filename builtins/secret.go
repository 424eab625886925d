package builtins

import (
	"context"
	"fmt"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// secret reads an environment variable: at run time in a task body, or as
// a node of its own when called in a flow body (Prefect's EnvVarSecret).
func secret(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var cast starlark.Callable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "cast?", &cast); err != nil {
		return nil, err
	}
	if tr := taskRunOf(thread); tr != nil {
		return readSecret(thread, tr.run, name, cast)
	}
	if bd := builderOf(thread); bd != nil {
		return bd.secretNode(name, cast), nil
	}
	return nil, fmt.Errorf("secret: only in a flow body or a task body, where it is read when the flow runs")
}

func readSecret(thread *starlark.Thread, run *runInfo, name string, cast starlark.Callable) (starlark.Value, error) {
	raw, ok := run.getenv(name)
	if !ok {
		return nil, fmt.Errorf("secret: environment variable %s is not set", name)
	}
	addSecret(run.redactor, raw)
	var v starlark.Value = starlark.String(raw)
	if cast != nil {
		var err error
		if v, err = starlark.Call(thread, cast, starlark.Tuple{v}, nil); err != nil {
			return nil, fmt.Errorf("secret %s: cast failed: %s", name, run.redactor.Redact(err.Error()))
		}
		addStringLeaves(run.redactor, v)
	}
	v.Freeze()
	return v, nil
}

// addStringLeaves masks every long enough string inside a decoded secret
// (a service-account JSON's private key, say).
func addStringLeaves(r *runtime.Redactor, v starlark.Value) {
	switch v := v.(type) {
	case starlark.String:
		if len(v) >= 6 {
			addSecret(r, string(v))
		}
	case *starlark.Dict:
		for _, kv := range v.Items() {
			addStringLeaves(r, kv[1])
		}
	case starlark.Iterable:
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			addStringLeaves(r, x)
		}
	}
}

func (b *builder) secretNode(name string, cast starlark.Callable) *TaskRef {
	run := b.run
	n := &runtime.Node{Name: b.uniqueName(name), Task: name, Pos: callerPos(b.thread),
		Trigger: runtime.AllSuccessful, SkipOnUpstreamSkip: true}
	n.DefPos = n.Pos
	n.Body = runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
		thread := &starlark.Thread{Name: c.TaskRun}
		v, err := readSecret(thread, run, name, cast)
		if err != nil {
			return nil, &runtime.PosError{Pos: n.Pos, Msg: err.Error()}
		}
		return v, nil
	})
	return b.add(n)
}
