package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
)

// Script is the front end without a terminal: it reads statements from a
// reader, as `python -i < script` does, and prints what they print, the
// value of each expression statement (but None), and the log of each flow
// run to Out; errors go to Err. Give its Print and OnRun to
// builtins.LoadOptions.
type Script struct {
	Out, Err io.Writer
	// Level is the least level of the run logs printed.
	Level runtime.Level

	mu sync.Mutex // orders the writes of Out and Err
}

// Print prints a line of print() output.
func (sc *Script) Print(msg string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	fmt.Fprintln(sc.Out, msg)
}

// OnRun prints a flow run's log as `wfsh run` does.
func (sc *Script) OnRun(r builtins.RunStart) runtime.Sink {
	return &output.LogPrinter{Out: lockedWriter{sc}, Level: sc.Level, Graph: r.Graph}
}

type lockedWriter struct{ sc *Script }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.sc.mu.Lock()
	defer w.sc.mu.Unlock()
	return w.sc.Out.Write(p)
}

// Run runs every entry of in (see [Split]) in s, going on after errors,
// and returns the exit status: 0 when every entry ran, 1 when one failed,
// the code of exit(code), 130 when ctx was cancelled (an interrupt).
func (sc *Script) Run(ctx context.Context, s *Session, in io.Reader) (int, error) {
	failed := false
	var exit *ExitError
	err := Split(in, func(src string) bool {
		v, err := s.Eval(ctx, src)
		switch {
		case errors.As(err, &exit):
			return false
		case ctx.Err() != nil:
			return false
		case err != nil:
			failed = true
			sc.printErr(s.Redact(FormatError(err)))
		case v != nil:
			sc.Print(s.Redact(v.String()))
		}
		return true
	})
	switch {
	case exit != nil:
		return exit.Code, err
	case ctx.Err() != nil:
		return 130, err
	case failed:
		return 1, err
	}
	return 0, err
}

// printErr writes an error to Err, after what Out has buffered, so that
// the two read in order on a terminal.
func (sc *Script) printErr(msg string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if f, ok := sc.Out.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
	fmt.Fprintln(sc.Err, msg)
}
