package repl

import (
	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
)

// flowAlias is `flow` at the prompt: the flow under debug (flow.run(),
// flow.replace(), ...), which, called, is still the @flow decorator, so
// that new flows can be defined at the prompt.
type flowAlias struct {
	*builtins.Flow
	decorator starlark.Value
}

var (
	_ starlark.HasAttrs = flowAlias{}
	_ starlark.Callable = flowAlias{}
)

func newFlowAlias(f *builtins.Flow, decorator starlark.Value) starlark.Value {
	if decorator == nil {
		return f
	}
	return flowAlias{Flow: f, decorator: decorator}
}

// CallInternal is the @flow decorator's.
func (a flowAlias) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return starlark.Call(thread, a.decorator, args, kwargs)
}
