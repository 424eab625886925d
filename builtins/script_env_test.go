package builtins

import "go.starlark.net/starlark"

// scriptPredeclared returns the names that script tests get on top of
// Starlark's universe and ExtraBuiltins: go_panic(msg) panics in Go, as a
// defect of wfsh would, to test that no panic reaches the user.
func scriptPredeclared() starlark.StringDict {
	return starlark.StringDict{
		"go_panic": starlark.NewBuiltin("go_panic", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var msg string
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, "msg", &msg); err != nil {
				return nil, err
			}
			panic(msg)
		}),
	}
}
