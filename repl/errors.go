package repl

import (
	"errors"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// FormatError renders an error of [Session.Eval] for people: one line per
// problem, each starting with the file:line:col it is about. An error
// raised inside a function (of the prompt or of the flow file) comes with
// its traceback, most recent call last, as in Python.
func FormatError(err error) string {
	var eerr *starlark.EvalError
	var rerrs resolve.ErrorList
	var serr syntax.Error
	switch {
	case errors.As(err, &eerr):
		return formatEval(eerr)
	case errors.As(err, &rerrs):
		lines := make([]string, len(rerrs))
		for i, e := range rerrs {
			lines[i] = e.Error()
		}
		return strings.Join(lines, "\n")
	case errors.As(err, &serr):
		return serr.Error()
	}
	return err.Error()
}

const cancelledPrefix = "Starlark computation cancelled: "

func formatEval(e *starlark.EvalError) string {
	msg := strings.TrimPrefix(e.Msg, cancelledPrefix)
	stack := e.CallStack
	builtin := ""
	if n := len(stack); n > 0 && stack[n-1].Pos.Filename() == "<builtin>" {
		builtin = stack[n-1].Name
		stack = stack[:n-1]
	}
	if builtin != "" && !strings.HasPrefix(msg, builtin+":") && builtin != contextBuiltin {
		msg = builtin + ": " + msg
	}
	if len(stack) == 0 {
		return msg
	}
	last := stack[len(stack)-1].Pos.String() + ": " + msg
	if at := stack[len(stack)-1].Pos.String() + ": "; strings.HasPrefix(e.Msg, at) {
		last = e.Msg // it says where itself
	}
	if len(stack) == 1 {
		return last
	}
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	for _, fr := range stack {
		b.WriteString("  " + fr.Pos.String() + ": in " + fr.Name + "\n")
	}
	b.WriteString(last)
	return b.String()
}

// contextBuiltin is what `context` is rewritten to: its errors already
// say "context: ...".
const contextBuiltin = "__wfsh_context__"
