//go:build wfshlight

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// This is the light wfsh (build tag wfshlight), the `wfsh` that make build
// installs: it links no server, API client, Kubernetes client, plugin
// protocol, PostgreSQL driver, live view or buildifier, whose package
// initialisation would cost every start (they were half of `wfsh
// --version`). What needs them, it hands to wfsh-full,
// installed beside it, as git hands `git foo` to git-foo: it execs
// wfsh-full in its own place, with the same arguments, environment, open
// files and process, so that signals and the exit status are wfsh-full's
// own, and no second process stays (docs/architecture.md, "Two
// executables").

// fullName is the full executable, beside this one.
const fullName = "wfsh-full"

// fullCommands are stand-ins for the commands wfsh-full serves: listed in
// the help as they are there, each hands the command line over as it is,
// its flags (--help too) unread.
func fullCommands() []*cobra.Command {
	cmds := make([]*cobra.Command, 0, len(fullOnly))
	for name, short := range fullOnly {
		what := "wfsh " + name
		c := &cobra.Command{Use: name, Short: short, Hidden: strings.HasPrefix(name, "__"), DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error { return handOff(what) },
			// Completing its arguments and flags: wfsh-full's.
			ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				_ = handOff(what)
				return nil, cobra.ShellCompDirectiveNoFileComp
			}}
		// `wfsh help NAME`: wfsh-full's help.
		c.SetHelpFunc(func(c *cobra.Command, _ []string) {
			fmt.Fprintln(c.ErrOrStderr(), handOff(what))
			os.Exit(exitFailed)
		})
		cmds = append(cmds, c)
	}
	return cmds
}

// handOff execs wfsh-full with this process's command line and
// environment, for what (said in the error); it returns only when that
// fails.
func handOff(what string) error {
	self, err := os.Executable()
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("wfsh: %s is served by %s, beside wfsh, which was not found: %v", what, fullName, err)}
	}
	path := filepath.Join(filepath.Dir(self), fullName)
	err = syscall.Exec(path, append([]string{path}, os.Args[1:]...), os.Environ())
	return &exitError{code: exitFailed, err: fmt.Errorf("wfsh: %s is served by %s, which should be beside %s: %v (make build and the image install both)", what, fullName, self, err)}
}

// handOffFlow hands the command to wfsh-full when the flow file at path,
// or a file it loads, loads a plugin; before anything is done.
func handOffFlow(path string) error {
	pl, ok := builtins.FindPluginLoad(path)
	if !ok {
		return nil
	}
	return handOff(fmt.Sprintf("a flow that loads a plugin (%s: load(\"@%s\"))", pl.Pos, pl.Plugin))
}

// handOffStore hands a command on a PostgreSQL store to wfsh-full: the
// light wfsh links no PostgreSQL driver.
func handOffStore(path string) error {
	if !store.IsPostgres(path) {
		return nil
	}
	return handOff("a PostgreSQL run store")
}

// flowPlugins are none: a flow that loads one was handed to wfsh-full
// before it loaded (handOffFlow).
var flowPlugins func(io.Writer) runner.Plugins

// The parts of the commands that talk to a server, or run a flow
// elsewhere, are wfsh-full's: each hands the command over.

func runOnKubernetes(*cobra.Command, string, *runFlags) error {
	return handOff("wfsh run --on kubernetes")
}

func runDeployment(*cobra.Command, string, *runFlags) error {
	return handOff("a run of a deployment")
}

func remoteRuns(context.Context, *remoteFlags, string, string, int) ([]store.Run, error) {
	return nil, handOff("wfsh runs of a server")
}

func remoteShow(*cobra.Command, string, *showFlags) error {
	return handOff("wfsh show of a server's run")
}

func remoteLogs(*cobra.Command, string, *logsFlags, runtime.Level) error {
	return handOff("wfsh logs of a server's run")
}

// use hands a run with the live view to wfsh-full: bubbletea and the
// terminal libraries are not linked here.
func (t *tuiFlags) use(*cobra.Command, *runFlags) (*os.File, error) {
	if !t.on {
		return nil, nil
	}
	return nil, handOff("wfsh run --tui")
}

// runTUI is not reached: use handed the run over.
func runTUI(*cobra.Command, *os.File, *output.BufferedWriter, *runner.Run, func()) error {
	return nil
}

// serverChild is a worker's child process (wfsh run --server-run).
type serverChild struct{}

func (f *runFlags) serverChild(*runner.Request) (*serverChild, error) {
	if f.serverRun == "" {
		return nil, nil
	}
	return nil, handOff("wfsh run --server-run")
}

func (*serverChild) bundlePath(_ context.Context, path string) (string, error) { return path, nil }
func (*serverChild) record(*runner.Run) runtime.Sink                           { return nil }
func (*serverChild) close() error                                              { return nil }
func (*serverChild) resumed(context.Context) (*runner.Resumed, error)          { return nil, nil }
