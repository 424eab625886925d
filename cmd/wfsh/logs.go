package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

type logsFlags struct {
	store    storeFlag
	remote   remoteFlags // --server: a run on the server (remote.go)
	task     string
	follow   bool
	logLevel string
	// noChildren: the run's own lines only, not its child flow runs'.
	noChildren bool
}

func newLogsCmd() *cobra.Command {
	var f logsFlags
	cmd := &cobra.Command{
		Use:   "logs RUN",
		Short: "Print the log of a recorded run (RUN: its id or a unique prefix)",
		Example: `  wfsh logs 3f2a
  wfsh logs 3f2a --task extract --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			streamGC()
			return printLogs(cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	f.store.register(fl)
	fl.StringVar(&f.task, "task", "", "only the lines of this task (and of the flow)")
	fl.BoolVarP(&f.follow, "follow", "f", false, "keep printing new lines until the run ends")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warning or error")
	fl.BoolVar(&f.noChildren, "no-children", false, "only the run's own lines, not those of its subflows' child flow runs")
	f.remote.register(fl)
	return cmd
}

// followEvery is how often --follow looks for new lines.
const followEvery = 200 * time.Millisecond

func printLogs(cmd *cobra.Command, id string, f *logsFlags) error {
	level, err := runtime.ParseLevel(f.logLevel)
	if err != nil {
		return badInput(err)
	}
	if f.remote.active() {
		return remoteLogs(cmd, id, f, level)
	}
	st, run, err := f.store.openRun(cmd.Context(), id)
	if err != nil {
		return err
	}
	defer st.Close()
	return storeLog(cmd.Context(), st, run, f, level, cmd.OutOrStdout())
}

// storeLog writes run's log from st to w, following it while the run goes
// on if f.follow.
func storeLog(ctx context.Context, st *store.Store, run store.Run, f *logsFlags, level runtime.Level, w io.Writer) error {
	// Lines are read from the store as they are printed, never the whole
	// log at once, and written out in large writes.
	out := bufio.NewWriterSize(w, 64<<10)
	defer out.Flush()
	// Children's routine events are not stored, so no progress lines.
	p := &output.LogPrinter{Out: out, Level: level, ProgressEvery: math.MaxInt64, NotTask: st.NotTasks(ctx)}
	// The task log lines, most of a log, are formatted by the store's
	// decoders, on every core; the printer prints the rest in order.
	text := store.LogText{
		NewFormatter: func() store.LogFormatter { return p.LineFormatter() },
		Write: func(b []byte) error {
			_, err := out.Write(b)
			return err
		},
	}
	// A run with subflows prints its child runs' lines among its own,
	// nested as wfsh run printed them; a plain run costs one probe more.
	// A run followed while it runs prints its own lines only.
	if !f.noChildren && (!f.follow || run.State.Finished()) {
		kids, err := st.HasSubflowRuns(ctx, run.ID)
		if err != nil {
			return err
		}
		if kids {
			err := st.EachLogTree(ctx, run.ID, store.LogFilter{Task: f.task}, func(e *runtime.Event) error {
				p.Emit(*e)
				return nil
			})
			if err != nil {
				return err
			}
			crashedLine(out, run)
			return out.Flush()
		}
	}
	var after uint64
	for {
		// Read the state before the lines: once it is final, the lines
		// read next are the last.
		var err error
		if run, err = st.GetRun(ctx, run.ID); err != nil {
			return err
		}
		last, err := st.EachLogText(ctx, run.ID, store.LogFilter{Task: f.task, After: after}, text, func(e *runtime.Event) error {
			p.Emit(*e)
			return nil
		})
		if err != nil {
			return err
		}
		after = max(after, last)
		if !f.follow || run.State.Finished() {
			break
		}
		if err := out.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followEvery):
		}
	}
	crashedLine(out, run)
	return out.Flush()
}

// crashedLine ends the log of a run that Crashed: its process wrote no
// end, the line says how it ended.
func crashedLine(out io.Writer, run store.Run) {
	if run.State == runtime.Crashed {
		fmt.Fprintf(out, "[%s] ERROR - wfsh.FlowRunner | Flow run CRASHED: %s\n",
			run.FinishedAt.Format("2006-01-02 15:04:05-0700"), run.Message)
	}
}
