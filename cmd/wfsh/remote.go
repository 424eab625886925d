package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// isDeploymentRef reports whether arg names a deployment, FLOW/NAME,
// rather than a flow file: it has one slash, is no .star file and no file
// of that name exists.
func isDeploymentRef(arg string) bool {
	if strings.HasSuffix(arg, ".star") || strings.Count(arg, "/") != 1 {
		return false
	}
	_, err := os.Stat(arg)
	return err != nil
}

// runDeployment is `wfsh run FLOW/NAME`: a run of a deployment on the
// server; with --watch its log follows until it ends, and the exit status
// is the run's, as `wfsh run` gives it.
func runDeployment(cmd *cobra.Command, ref string, f *runFlags) error {
	c, err := f.remote.client()
	if err != nil {
		return err
	}
	_, params, _, err := runInputs(f.logLevel, f.params, nil)
	if err != nil {
		return err
	}
	flow, name, _ := strings.Cut(ref, "/")
	var run store.Run
	err = c.Do(cmd.Context(), "POST", "/deployments/"+server.PathEscape(flow)+"/"+server.PathEscape(name)+"/runs",
		server.RunRequest{Parameters: params}, &run)
	if err != nil {
		return remoteErr(err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wfsh: run %s of %s made on %s\n", run.ID, ref, c.Base)
	if !f.watch {
		fmt.Fprintln(cmd.OutOrStdout(), run.ID)
		return nil
	}
	level, err := runtime.ParseLevel(f.logLevel)
	if err != nil {
		return badInput(err)
	}
	st, err := followLogs(cmd.Context(), c, run.ID, &output.LogPrinter{Out: cmd.OutOrStdout(), Level: level})
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return &exitError{code: exitCode(st)}
}

// followLogs prints a run's events as they come, until the run ends;
// it returns the final state.
func followLogs(ctx context.Context, c *server.Client, id string, sink runtime.Sink) (runtime.State, error) {
	var after uint64
	for fails := 0; ; {
		var page server.LogPage
		err := c.Do(ctx, "GET", server.Query("/runs/"+id+"/logs", "after_seq", fmt.Sprint(after)), nil, &page)
		if err != nil {
			if ctx.Err() != nil || fails > 20 {
				return 0, err
			}
			fails++
			time.Sleep(server.Backoff(fails))
			continue
		}
		fails = 0
		for _, e := range page.Events {
			sink.Emit(eventFrom(id, e))
			after = max(after, e.Seq)
		}
		if page.State.Finished() {
			return page.State, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func eventFrom(runID string, e server.Event) runtime.Event {
	t, _ := time.Parse(time.RFC3339Nano, e.Time)
	return runtime.Event{Seq: e.Seq, Time: t, RunID: runID, Kind: e.Kind, TaskRun: e.Task, MapIndex: e.MapIndex, Node: runtime.NoNode,
		Attempt: e.Attempt, State: e.State, Level: e.Level, Msg: e.Msg, Children: e.Children}
}

func newCancelCmd() *cobra.Command {
	var r remoteFlags
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a run on the server (Scheduled: at once; Pending or Running: its worker stops it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			var run store.Run
			if err := c.Do(cmd.Context(), "POST", "/runs/"+server.PathEscape(args[0])+"/cancel", nil, &run); err != nil {
				return remoteErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", run.ID, run.State)
			return nil
		},
	}
	r.register(cmd.Flags())
	return cmd
}
