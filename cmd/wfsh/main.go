// Command wfsh builds, checks and runs Starlark flows.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes, as SPEC §2 gives them.
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

func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitSuccess
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Cobra's own errors: unknown command or flag, wrong arguments.
		path := cmd.CommandPath()
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", path, err, path)
		return exitBadInput
	}
	if ee.err != nil {
		fmt.Fprintln(stderr, printableError(ee.err))
	}
	return ee.code
}
