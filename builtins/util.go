package builtins

import (
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// callerPos returns the position of the innermost Starlark frame that has
// one, skipping builtins: where the user's code called us.
func callerPos(thread *starlark.Thread) runtime.Pos {
	for d := 0; d < thread.CallStackDepth(); d++ {
		if p := thread.CallFrame(d).Pos; p.IsValid() && p.Filename() != "<builtin>" {
			return toPos(p)
		}
	}
	return runtime.Pos{}
}

func toPos(p syntax.Position) runtime.Pos {
	return runtime.Pos{File: p.Filename(), Line: p.Line, Col: p.Col}
}

// builtinAttr serves a value's methods from a table, as starlark/library.go
// does: a missing name returns (nil, nil) so Starlark adds spelling hints.
func builtinAttr(recv starlark.Value, name string, methods map[string]*starlark.Builtin) (starlark.Value, error) {
	b := methods[name]
	if b == nil {
		return nil, nil
	}
	return b.BindReceiver(recv), nil
}

func builtinAttrNames(methods map[string]*starlark.Builtin) []string {
	names := make([]string, 0, len(methods))
	for name := range methods {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
