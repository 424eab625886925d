//go:build !wfshlight

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/tui"
)

// use decides whether this run gets the view: not when standard output is
// not a terminal (a pipe, a file, CI), where the run prints log lines as
// without --tui, after a one-line note on standard error.
func (t *tuiFlags) use(cmd *cobra.Command, f *runFlags) (*os.File, error) {
	if !t.on {
		return nil, nil
	}
	if f.json {
		return nil, badInput(errors.New("--tui and --json cannot be used together: --json prints events for programs, --tui shows them to people"))
	}
	out, ok := cmd.OutOrStdout().(*os.File)
	if !ok || !term.IsTerminal(out.Fd()) {
		fmt.Fprintln(cmd.ErrOrStderr(), "wfsh run: --tui: standard output is not a terminal; printing log lines instead")
		return nil, nil
	}
	return out, nil
}

// runTUI runs the flow with the live view on tty. cleanup stops what the
// run started (plugins, the run store, buffered output), for the exit on a
// second interrupt.
func runTUI(cmd *cobra.Command, tty *os.File, out *output.BufferedWriter, run *runner.Run, cleanup func()) error {
	build := run.Build
	out.Flush() // what the flow printed while loading, before the screen changes
	feed := tui.NewFeed(0)
	m := tui.New(tui.Options{Graph: build.Graph, Feed: feed, Flow: build.Flow.Name(), RunID: run.ID})
	runCtx, cancelRun := context.WithCancel(cmd.Context())
	defer cancelRun()
	// The view reads keys from the terminal (stdin, or /dev/tty when
	// stdin is redirected); signals stay with withInterrupts, which
	// cancels the run at the first and exits at the second.
	app := tui.NewApp(m, cancelRun)
	p := tea.NewProgram(app, tea.WithOutput(tty), tea.WithoutSignalHandler())
	ctx, stop := runner.WithInterrupts(runCtx, func() {
		p.Kill() // give the terminal back first
		cleanup()
		os.Exit(exitInterrupted)
	})
	defer stop()

	done := make(chan *runtime.Result, 1)
	var elapsed time.Duration
	// The run starts once the view has the terminal (App.Start, from
	// Init), and never after the view has ended.
	var (
		gate    sync.Mutex
		started bool
		ended   bool
	)
	app.Start = func() {
		gate.Lock()
		defer gate.Unlock()
		if ended {
			return
		}
		started = true
		go func() {
			t0 := time.Now()
			res := run.Execute(ctx, feed)
			elapsed = time.Since(t0)
			feed.Close()
			done <- res
		}()
	}
	_, viewErr := p.Run()
	gate.Lock()
	ended = true
	ran := started
	gate.Unlock()
	if !ran {
		return &exitError{code: exitFailed, err: fmt.Errorf("wfsh run: --tui: %v; nothing was run (without --tui the run prints log lines)", viewErr)}
	}
	var res *runtime.Result
	select {
	case res = <-done:
	default:
		// The view ended before the run: the user quit while cancelling,
		// or the terminal failed. Nothing may keep running after wfsh.
		cancelRun()
		fmt.Fprintln(cmd.ErrOrStderr(), "wfsh run: waiting for the cancelled run to stop")
		res = <-done
	}
	fmt.Fprintln(out, tui.Summary(build.Graph, res, elapsed))
	if viewErr != nil && !errors.Is(viewErr, tea.ErrProgramKilled) {
		fmt.Fprintf(cmd.ErrOrStderr(), "wfsh run: --tui: %v\n", viewErr)
		if res.State == runtime.Success {
			return &exitError{code: exitFailed}
		}
	}
	return outputDone(out, exitCode(res.State))
}
