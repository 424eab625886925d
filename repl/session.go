// Package repl is `wfsh repl`: an interactive session over a flow file's
// module. A [Session] runs chunks of input (statements, decorated defs,
// expressions) in the module's dialect against a copy of its globals, so
// that flows can be run with mocked states, tasks replaced and graphs drawn
// without editing the file. The front ends are a terminal UI ([Run]) and
// a scripted mode that reads statements from a reader ([RunScript]).
package repl

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/builtins"
)

// DefaultFilename names input typed or piped in, in positions.
const DefaultFilename = "<stdin>"

// Options configure a session.
type Options struct {
	// Filename names the input in positions; "" is DefaultFilename.
	Filename string
	// Print receives what print() prints at the prompt; nil drops it.
	Print func(string)
	// Flow, if set, is bound to `flow`: the flow under debug, which still
	// works as the @flow decorator.
	Flow *builtins.Flow
}

// A Session runs chunks of input over a module, one at a time. Positions
// count lines across the whole session, so that line numbers in errors
// are those of the input.
type Session struct {
	mod      *builtins.Module
	globals  starlark.StringDict
	filename string
	print    func(string)
	line     int // lines of input consumed

	mu      sync.Mutex
	running *starlark.Thread
	cancel  context.CancelFunc
	busy    sync.WaitGroup // held while a chunk runs
}

// New starts a session over m: its globals are the module's, with every
// predeclared name (task, flow, Success, ...) besides.
func New(m *builtins.Module, opts Options) *Session {
	s := &Session{mod: m, globals: m.Predeclared(), filename: opts.Filename, print: opts.Print}
	if s.filename == "" {
		s.filename = DefaultFilename
	}
	if s.print == nil {
		s.print = func(string) {}
	}
	print := s.print
	s.print = func(msg string) { print(s.Redact(msg)) }
	for k, v := range m.Globals {
		s.globals[k] = v
	}
	if opts.Flow != nil {
		s.globals["flow"] = newFlowAlias(opts.Flow, s.globals["flow"])
	}
	s.globals["exit"] = starlark.NewBuiltin("exit", exit)
	s.globals["quit"] = starlark.NewBuiltin("quit", exit)
	return s
}

// ExitError is what exit(code) and quit(code) raise: the session ends,
// with that exit status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit(%d)", e.Code) }

func exit(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	code := 0
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0, &code); err != nil {
		return nil, err
	}
	return nil, &ExitError{Code: code}
}

// Globals are the session's names; the caller must not change them while
// Eval runs.
func (s *Session) Globals() starlark.StringDict { return s.globals }

// Redact masks in text the secrets that the session's flow runs have
// read: what it shows of a value or an error passes through it, as what
// print() prints does.
func (s *Session) Redact(text string) string { return s.mod.Redactor().Redact(text) }

// Line returns the number of lines of input consumed so far.
func (s *Session) Line() int { return s.line }

// Eval runs one chunk of input: statements, or a sole expression whose
// value it returns (nil for statements, and for None). A value is also
// bound to `_`. Errors are Starlark's own, positioned in the input; see
// [FormatError]. Cancelling ctx, or [Session.Interrupt], stops it.
func (s *Session) Eval(ctx context.Context, src string) (starlark.Value, error) {
	first := s.line
	s.line += lineCount(src)
	padded := strings.Repeat("\n", first) + src
	f, err := s.mod.ParseChunk(s.filename, []byte(padded), s.globals.Has)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	thread := s.start(ctx, cancel)
	defer s.stop()
	if expr := soleExpr(f); expr != nil {
		v, err := starlark.EvalExprOptions(f.Options, thread, expr, s.globals)
		if err != nil || v == starlark.None {
			return nil, err
		}
		s.globals["_"] = v
		return v, nil
	}
	return nil, starlark.ExecREPLChunk(f, thread, s.globals)
}

func (s *Session) start(ctx context.Context, cancel context.CancelFunc) *starlark.Thread {
	thread := s.mod.NewThread("repl", s.print)
	thread.SetLocal("context", ctx)
	s.mu.Lock()
	s.running, s.cancel = thread, cancel
	s.busy.Add(1)
	s.mu.Unlock()
	context.AfterFunc(ctx, func() { thread.Cancel("interrupted") })
	return thread
}

func (s *Session) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel()
	s.running, s.cancel = nil, nil
	s.busy.Done()
}

// Wait waits until no chunk runs.
func (s *Session) Wait() { s.busy.Wait() }

// Interrupt stops the chunk that is running, if any: its Starlark code
// fails with "interrupted" and a flow run it started is cancelled.
func (s *Session) Interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
}

// Running reports whether a chunk is running.
func (s *Session) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running != nil
}

func soleExpr(f *syntax.File) syntax.Expr {
	if len(f.Stmts) == 1 {
		if es, ok := f.Stmts[0].(*syntax.ExprStmt); ok {
			return es.X
		}
	}
	return nil
}

// lineCount counts the lines of src, a last line without newline included.
func lineCount(src string) int {
	n := strings.Count(src, "\n")
	if src != "" && !strings.HasSuffix(src, "\n") {
		n++
	}
	return n
}
