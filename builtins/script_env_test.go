package builtins

import "go.starlark.net/starlark"

// scriptPredeclared returns the names that script tests get on top of
// Starlark's universe and ExtraBuiltins.
func scriptPredeclared() starlark.StringDict { return nil }
