package builtins

import (
	"maps"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

// What an interactive session (`wfsh repl`) needs to run statements in a
// loaded module's dialect, one chunk at a time, with the module's globals.

// RunStart describes a flow.run() about to start.
type RunStart struct {
	Flow  string
	RunID string
	Graph *runtime.Graph
}

// Predeclared returns a copy of the names flow code sees besides Starlark's
// universe: task, flow, Success, json, ...
func (m *Module) Predeclared() starlark.StringDict {
	return maps.Clone(m.env.predeclared)
}

// ParseChunk parses src as a chunk of flow code: decorators are accepted
// and `context` in task bodies is rewritten, as in a flow file. defined
// reports the names the chunk may use (the session's globals).
func (m *Module) ParseChunk(filename string, src []byte, defined func(string) bool) (*syntax.File, error) {
	f, err := ParseFile(filename, src)
	if err != nil {
		return nil, err
	}
	rewriteContext(f, func(name string) bool { return defined(name) || m.env.predeclared.Has(name) })
	return f, nil
}

// Redactor masks the secrets that the module's flow.run() calls have
// read, in all of them: what a session shows of their results and errors
// passes through it.
func (m *Module) Redactor() *runtime.Redactor { return m.env.redactor }

// sessionRedactor is the redactor of a flow.run(); nil (each run its own)
// for a flow made outside a module.
func (e *env) sessionRedactor() *runtime.Redactor {
	if e == nil {
		return nil
	}
	return e.redactor
}

// NewThread returns a thread that runs chunks at the top level of the
// module: flows and tasks may be defined there, load() finds files and
// plugins, and flow.run() reports as LoadOptions say. Its print goes to
// print.
func (m *Module) NewThread(name string, print func(string)) *starlark.Thread {
	thread := &starlark.Thread{Name: name, Load: m.env.loadModule}
	thread.Print = func(_ *starlark.Thread, msg string) { print(msg) }
	thread.SetLocal(localEnv, m.env)
	thread.SetLocal(localLoading, m.Path)
	return thread
}
