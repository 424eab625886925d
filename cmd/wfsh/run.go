package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
)

type runFlags struct {
	flow        string
	params      []string
	context     []string
	concurrency int
	json        bool
	logLevel    string
	// The run store, resume and the cache (runner.Store).
	store   storeFlag
	noStore bool
	record  bool   // deprecated: recording is the default
	resume  string // --resume RUN

	tui tuiFlags // --tui: the live view (tui.go)

	on onFlags // --on kubernetes: the run goes to a cluster (on_kubernetes.go)

	serverRun string // --server-run ID: a worker's child, recording to the server (worker.go)
	watch     bool   // --watch: follow a run made on a server (remote.go)
	remote    remoteFlags
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Build, check and run a flow",
		Long: `Build, check and run a flow. Exit status: 0 when the flow succeeds, 1 when it
fails, 2 for bad input (the flow does not build), 130 when interrupted.`,
		Example: `  wfsh run flows/hello_world.star
  wfsh run flows/parameterize.star -p name=koji
  wfsh run flows/etl.star --context today=2020-11-30 --json`,
		Args:              oneFile,
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			if isDeploymentRef(args[0]) {
				return runDeployment(cmd, args[0], &f)
			}
			return runFlow(cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.flow, "flow", "", "the flow to run, when FILE defines several")
	fl.StringArrayVarP(&f.params, "param", "p", nil, "a flow parameter as NAME=VALUE (VALUE is JSON where it parses, else a string)")
	fl.StringArrayVar(&f.context, "context", nil, "override a context key as KEY=VALUE (e.g. today=2020-11-30)")
	fl.IntVar(&f.concurrency, "concurrency", 0, fmt.Sprintf("task bodies run at once (default %d)", runtime.DefaultConcurrency()))
	fl.BoolVar(&f.json, "json", false, "print one JSON event per line instead of log lines")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warning or error")
	registerStoreFlags(fl, &f)

	// --tui (tui.go)
	f.tui.register(fl)

	// --on kubernetes and its flags (on_kubernetes.go)
	f.on.register(fl)

	// A worker's child (worker.go) and runs of deployments (remote.go).
	fl.StringVar(&f.serverRun, "server-run", "", "record the run as the server's run ID (a worker's child process)")
	_ = fl.MarkHidden("server-run")
	fl.BoolVar(&f.watch, "watch", false, "with FLOW/NAME: follow the run's log until it ends; exit as its state says")
	f.remote.register(fl)
	return cmd
}

func runFlow(cmd *cobra.Command, path string, f *runFlags) error {
	if err := handOffFlow(path); err != nil {
		return err
	}
	runtime.EnableHugeHeap(quietReserve)
	if remote, err := f.on.check(f); err != nil {
		return badInput(err)
	} else if remote {
		return runOnKubernetes(cmd, path, f)
	}
	level, params, ctxKV, err := runInputs(f.logLevel, f.params, f.context)
	if err != nil {
		return err
	}
	if f.concurrency < 0 {
		return badInput(fmt.Errorf("--concurrency %d: want a positive number of task runs at once (0 for the default)", f.concurrency))
	}
	// --tui (tui.go): tty is the terminal to draw on, nil for log lines.
	tty, err := f.tui.use(cmd, f)
	if err != nil {
		return err
	}
	st, err := f.openStore(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	r := newRunner(cmd.ErrOrStderr(), level, st, f.concurrency)
	defer r.Close()
	req := runner.Request{Params: params, Context: ctxKV}
	child, err := f.serverChild(&req)
	if err != nil {
		return err
	}
	if path, err = child.bundlePath(cmd.Context(), path); err != nil {
		return err
	}
	if f.resume != "" {
		if child != nil {
			req.Resume, err = child.resumed(cmd.Context())
		} else {
			req.Resume, err = r.Resumed(cmd.Context(), f.resume)
		}
		if err != nil {
			return err
		}
		if f.flow == "" {
			f.flow = req.Resume.Flow()
		}
	}
	out := output.NewBufferedWriter(cmd.OutOrStdout(), 50*time.Millisecond)
	defer out.Close()
	fl, err := r.Load(path, f.flow, out)
	if err != nil {
		return err
	}
	run, err := r.Prepare(cmd.Context(), fl, req)
	if err != nil {
		return err
	}
	// --tui (tui.go)
	if tty != nil {
		return runTUI(cmd, tty, out, run, func() { r.Close(); out.Close() })
	}
	ctx, stop := runner.WithInterrupts(cmd.Context(), func() {
		r.Close()
		out.Close()
		os.Exit(exitInterrupted)
	})
	defer stop()
	sink := printer(out, f, level, run.Build)
	if child != nil {
		sink = runtime.Tee(sink, child.record(run))
	}
	res := run.Execute(ctx, sink)
	if child != nil {
		if err := child.close(); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "wfsh: %v\n", err)
			return &exitError{code: exitFailed}
		}
	}
	return outputDone(out, exitCode(res.State))
}

// newRunner is the runner of one command's flow runs, recorded in st
// (nil: not recorded).
func newRunner(stderr io.Writer, level runtime.Level, st *runner.Store, concurrency int) *runner.Runner {
	return runner.New(runner.Options{Plugins: flowPlugins, Level: level, Stderr: stderr, Store: st, Concurrency: concurrency,
		Deployments: flowDeployments})
}

// outputDone flushes what a run printed and returns its exit status. A
// log that could not be written (a full disk, a closed pipe) fails the
// command: a run whose output was lost does not exit 0.
func outputDone(out *output.BufferedWriter, code int) error {
	if err := out.Close(); err != nil {
		if code == exitSuccess {
			code = exitFailed
		}
		return &exitError{code: code, err: fmt.Errorf("wfsh: the run's output was not all written: %v", err)}
	}
	return &exitError{code: code}
}

// openStore starts opening the run store, unless --no-store (nil).
func (f *runFlags) openStore(stderr io.Writer) (*runner.Store, error) {
	if f.noStore || f.serverRun != "" {
		return nil, nil
	}
	path, err := f.store.where()
	if err != nil {
		return nil, err
	}
	return runner.OpenStore(path, stderr)
}

// registerStoreFlags adds the run store's flags to `wfsh run`.
func registerStoreFlags(fl *pflag.FlagSet, f *runFlags) {
	f.store.register(fl)
	fl.BoolVar(&f.noStore, "no-store", false, "do not record the run (and use no cache)")
	fl.StringVar(&f.resume, "resume", "", "resume the run RUN (its id or a unique prefix): the task runs that succeeded in it are not run again")
	// --record asked for recording when it was not the default: it is
	// kept, hidden, so that scripts using it go on working.
	fl.BoolVar(&f.record, "record", false, "record the run (every run is, unless --no-store)")
	_ = fl.MarkHidden("record")
}

func printer(out io.Writer, f *runFlags, level runtime.Level, b *builtins.Build) runtime.Sink {
	if f.json {
		return &output.JSONPrinter{Out: out, Flow: b.Flow.Name()}
	}
	return &output.LogPrinter{Out: out, Level: level, Graph: b.Graph}
}

func exitCode(s runtime.State) int {
	switch s {
	case runtime.Success:
		return exitSuccess
	case runtime.Cancelled:
		return exitInterrupted
	}
	return exitFailed
}
