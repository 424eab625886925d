// Command wfsh builds, checks and runs Starlark flows.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runner"
)

// Exit codes, as docs/cli.md gives them.
const (
	exitSuccess     = 0
	exitFailed      = 1
	exitBadInput    = 2
	exitInterrupted = 130
)

func main() {
	tuneGC()
	os.Exit(Main())
}

// Main runs the command line and returns the exit code.
func Main() int {
	return execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// exitError carries an exit code out of a command; its message, if any,
// has not been printed yet.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func badInput(err error) error { return &exitError{code: exitBadInput, err: err} }

func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer recoverInternal(stderr, &code)
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitSuccess
	}
	var ee *exitError
	var ie *runner.InputError
	var se *runner.StoreError
	var pe *fs.PathError
	switch {
	case errors.As(err, &ee), errors.As(err, &ie), errors.As(err, &se):
		if ee == nil || ee.err != nil {
			fmt.Fprintln(stderr, printableError(err))
		}
		return errorCode(err)
	case errors.As(err, &pe):
		// A file or stream the command could not read or write (a full
		// disk under `wfsh runs > file`): a failure, not a usage error.
		fmt.Fprintln(stderr, printableError(fmt.Errorf("wfsh: %w", err)))
		return exitFailed
	}
	// Cobra's own errors: unknown command or flag, wrong arguments.
	path := cmd.CommandPath()
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", path, err, path)
	return exitBadInput
}

// errorCode is the exit status for a command's error: bad input (the
// runner's InputError) 2, a failure of the run store 1, else what an
// exitError says, else 1.
func errorCode(err error) int {
	var ee *exitError
	var ie *runner.InputError
	var se *runner.StoreError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ie):
		return exitBadInput
	case errors.As(err, &se):
		return exitFailed
	}
	return exitFailed
}

// recoverInternal, deferred, turns a panic of the command (a defect of
// wfsh, whatever the input) into one line on stderr and exit status 2,
// instead of a Go stack trace. WFSH_DEBUG=1 adds the stack.
func recoverInternal(stderr io.Writer, code *int) {
	if p := recover(); p != nil {
		fmt.Fprintf(stderr, "wfsh: %v\n", builtins.InternalError(p))
		*code = exitBadInput
	}
}
