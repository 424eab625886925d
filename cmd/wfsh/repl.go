//go:build !wfshlight

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/repl"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
)

type replFlags struct {
	flow        string
	concurrency int
	logLevel    string
	history     string
}

func newReplCmd() *cobra.Command {
	var f replFlags
	cmd := &cobra.Command{
		Use:   "repl FILE",
		Short: fullOnly["repl"],
		Long: `Load a flow file and give a Starlark prompt over its module, where
flow.run(task_states={...}), flow.get_tasks(), flow.replace(old, new) and
flow.visualize() debug the flow without editing the file. When FILE defines
one flow (or with --flow), it is also bound to ` + "`flow`" + `.

On a terminal it is a full-screen REPL: history, multi-line input (a block
or a decorated def goes on until a blank line), Tab completion of names and
attributes, and a pane beside the prompt where a run started there shows
live. Without a terminal it reads statements from standard input and prints
what they print, the value of each expression and each run's log, so that
sessions can be scripted. Exit status: 0, 1 when a statement failed (without
a terminal), the code given to exit(code), 2 when FILE does not load.`,
		Example: `  wfsh repl flows/debug.star
  wfsh repl flows/debug.star <<'EOF'
  r = flow.run(task_states={"number": Success("Dummy Success", 10)})
  r.result("cube")
  EOF`,
		Args:              oneFile,
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRepl(cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.flow, "flow", "", "the flow to bind to `flow`, when FILE defines several")
	fl.IntVar(&f.concurrency, "concurrency", 0, fmt.Sprintf("task bodies a flow.run() runs at once (default %d)", runtime.DefaultConcurrency()))
	fl.StringVar(&f.logLevel, "log-level", "info", "least level of the run logs shown: debug, info, warning or error")
	fl.StringVar(&f.history, "history", defaultHistory(), "file the prompt's history is kept in (\"\": none); terminal only")
	return cmd
}

// defaultHistory is $WFSH_HOME/repl_history, else ~/.wfsh/repl_history.
func defaultHistory() string {
	if home := os.Getenv("WFSH_HOME"); home != "" {
		return filepath.Join(home, "repl_history")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".wfsh", "repl_history")
	}
	return ""
}

// frontend is where a session's output goes: the terminal UI or a script.
type frontend interface {
	Print(string)
	OnRun(builtins.RunStart) runtime.Sink
}

func runRepl(cmd *cobra.Command, path string, f *replFlags) error {
	level, err := runtime.ParseLevel(f.logLevel)
	if err != nil {
		return badInput(err)
	}
	if f.concurrency < 0 {
		return badInput(fmt.Errorf("--concurrency %d: want a positive number of task runs at once (0 for the default)", f.concurrency))
	}
	in, out := cmd.InOrStdin(), cmd.OutOrStdout()
	var ui *repl.UI
	var script *repl.Script
	var front frontend
	var stdout *output.BufferedWriter
	if isTerminal(in) && isTerminal(out) {
		ui = repl.NewUI()
		front = ui
	} else {
		stdout = output.NewBufferedWriter(out, 50*time.Millisecond)
		defer stdout.Close()
		script = &repl.Script{Out: stdout, Err: cmd.ErrOrStderr(), Level: level}
		front = script
	}
	pluginLevel := level
	if ui != nil {
		pluginLevel = max(level, runtime.Info) // no go-plugin debug lines over the screen
	}
	r := newRunner(cmd.ErrOrStderr(), pluginLevel, nil, f.concurrency)
	defer r.Close()
	m, err := r.LoadInteractive(path, builtins.LoadOptions{Print: front.Print, OnRun: front.OnRun, Interactive: true})
	if err != nil {
		return err
	}
	var bound *builtins.Flow
	if f.flow != "" || len(m.Flows) == 1 {
		if bound, err = m.FindFlow(f.flow); err != nil {
			return badInput(err)
		}
	}
	s := repl.New(m, repl.Options{Print: front.Print, Flow: bound})
	ctx, stop := runner.WithInterrupts(cmd.Context(), func() {
		r.Close()
		os.Exit(exitInterrupted)
	})
	defer stop()
	var code int
	if ui != nil {
		hist, herr := repl.LoadHistory(f.history)
		if herr != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "wfsh repl: history %s: %v; this session's history is not kept\n", f.history, herr)
			hist, _ = repl.LoadHistory("")
		}
		code, err = ui.Run(ctx, s, repl.UIOptions{Title: path, Banner: repl.Banner(m, bound), History: hist}, in, out)
	} else {
		code, err = script.Run(ctx, s, in)
	}
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return &exitError{code: code}
}

// isTerminal reports whether f is a file open on a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(file.Fd())
}
