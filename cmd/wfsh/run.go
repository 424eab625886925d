package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
)

type runFlags struct {
	flow        string
	params      []string
	context     []string
	concurrency int
	json        bool
	logLevel    string
	// The run store, resume and the cache (record.go).
	store   storeFlag
	noStore bool
	record  bool   // deprecated: recording is the default
	resume  string // --resume RUN

	tui tuiFlags // --tui: the live view (tui.go)

	on onFlags // --on kubernetes: the run goes to a cluster (on_kubernetes.go)
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
	return cmd
}

func runFlow(cmd *cobra.Command, path string, f *runFlags) error {
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
	rs, err := startStore(f, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer rs.close()
	if err := rs.resumeSettings(cmd.Context(), f, &params, &ctxKV); err != nil {
		return err
	}
	out := output.NewBufferedWriter(cmd.OutOrStdout(), 50*time.Millisecond)
	defer out.Close()
	redactor := &runtime.Redactor{}
	plugins := newPluginManager(cmd.ErrOrStderr(), level, redactor)
	defer plugins.Stop()
	_, flow, err := loadFlow(path, f.flow, plugins, out)
	if err != nil {
		return err
	}
	runID := runtime.NewRunID()
	build, err := flow.Build(builtins.BuildOptions{Params: params, RunSettings: builtins.RunSettings{RunID: runID, Context: ctxKV, Redactor: redactor}})
	if err != nil {
		return badInput(err)
	}
	hooks, err := rs.begin(cmd.Context(), path, f, build, runID, ctxKV)
	if err != nil {
		return err
	}
	// --tui (tui.go)
	if tty != nil {
		return runTUI(cmd, tty, out, build, runtime.Options{RunID: runID, Concurrency: f.concurrency,
			Redactor: redactor, Sink: hooks.sink, Mocks: hooks.mocks, Cache: hooks.cache},
			func() { plugins.Stop(); rs.close(); out.Close() })
	}
	ctx, stop := withInterrupts(cmd.Context(), func() {
		plugins.Stop()
		rs.close()
		out.Close()
		os.Exit(exitInterrupted)
	})
	defer stop()
	res := runtime.Run(ctx, build.Graph, runtime.Options{
		RunID: runID, Concurrency: f.concurrency, Redactor: redactor,
		Sink: runtime.Tee(printer(out, f, level, build), hooks.sink), Mocks: hooks.mocks, Cache: hooks.cache,
	})
	return &exitError{code: exitCode(res.State)}
}

// withInterrupts cancels the returned context at the first SIGINT or
// SIGTERM, and calls second at the next one.
func withInterrupts(parent context.Context, second func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			second()
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
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
