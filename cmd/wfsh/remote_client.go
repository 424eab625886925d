//go:build !wfshlight

package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// How commands talk to a wfsh server (server.Client), which links the
// server's libraries; remote.go has their flags, which the light
// executable keeps (docs/architecture.md, "Two executables").

func (r *remoteFlags) client() (*server.Client, error) {
	rf := r.resolve()
	if rf.server == "" {
		return nil, badInput(fmt.Errorf("no server: give --server URL, set WFSH_SERVER, or wfsh login URL"))
	}
	return &server.Client{Base: rf.server, Token: rf.token}, nil
}

// runDeployment is `wfsh run FLOW/NAME`: a run of a deployment on the
// server; with --watch its log follows until it ends, and the exit status
// is the run's, as `wfsh run` gives it.
func runDeployment(cmd *cobra.Command, ref string, f *runFlags) error {
	if !f.remote.active() {
		return badInput(fmt.Errorf("%s: no such file; as FLOW/NAME, a deployment, it needs a server: --server URL, WFSH_SERVER or wfsh login", ref))
	}
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
	return madeRun(cmd, c, run.ID, f.watch, f.logLevel)
}

// madeRun ends a command that made a run on the server: it prints the
// run's id or, with watch, the run's log until it ends, and exits as the
// run ended (as `wfsh run` does).
func madeRun(cmd *cobra.Command, c *server.Client, id string, watch bool, logLevel string) error {
	if !watch {
		fmt.Fprintln(cmd.OutOrStdout(), id)
		return nil
	}
	level, err := runtime.ParseLevel(logLevel)
	if err != nil {
		return badInput(err)
	}
	// Parameters' and constants' runs are not counted as tasks' (as wfsh
	// run and wfsh logs count them): the run's graph says which they are,
	// read once its first task's event comes (it is recorded at start).
	var once sync.Once
	notTask := map[string]bool{}
	p := &output.LogPrinter{Out: cmd.OutOrStdout(), Level: level, NotTask: func(run, node string) bool {
		if run != id {
			return false
		}
		once.Do(func() {
			var dag []server.DAGNode
			if c.Do(cmd.Context(), "GET", "/runs/"+server.PathEscape(id)+"/dag", nil, &dag) == nil {
				for _, n := range dag {
					notTask[n.Name] = store.IsValueKind(n.Kind)
				}
			}
		})
		return notTask[node]
	}}
	st, err := followLogs(cmd.Context(), c, id, "", true, p)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return &exitError{code: exitCode(st)}
}

// followLogs prints a run's events (of task, if given), and with follow
// those that come until the run ends, read from the server's event
// stream (server-sent events; after a broken connection it goes on from
// the last event it printed); it returns the run's state.
func followLogs(ctx context.Context, c *server.Client, id, task string, follow bool, sink runtime.Sink) (runtime.State, error) {
	if !follow {
		var page server.LogPage
		if err := c.Do(ctx, "GET", server.Query("/runs/"+id+"/logs", "task", task), nil, &page); err != nil {
			return 0, err
		}
		for _, e := range page.Events {
			sink.Emit(eventFrom(id, e))
		}
		return page.State, nil
	}
	var after uint64
	for fails := 0; ; fails++ {
		end := c.Stream(ctx, server.Query("/runs/"+id+"/events", "after_seq", fmt.Sprint(after), "task", task),
			func(event string, data []byte) error {
				switch event {
				case "event":
					var e server.Event
					if err := json.Unmarshal(data, &e); err != nil {
						return err
					}
					sink.Emit(eventFrom(id, e))
					after, fails = max(after, e.Seq), 0
				case "end":
					var end server.RunEnd
					if err := json.Unmarshal(data, &end); err != nil {
						return err
					}
					return stopStream{end.State}
				}
				return nil
			})
		var stop stopStream
		if errors.As(end, &stop) {
			return stop.state, nil
		}
		var ae *server.APIError
		if errors.As(end, &ae) && ae.Status < 500 || ctx.Err() != nil || fails > 20 {
			return 0, cmp.Or(end, ctx.Err())
		}
		time.Sleep(server.Backoff(fails))
	}
}

// stopStream ends an event stream at the run's end.
type stopStream struct{ state runtime.State }

func (stopStream) Error() string { return "the run ended" }

func eventFrom(runID string, e server.Event) runtime.Event {
	t, _ := time.Parse(time.RFC3339Nano, e.Time)
	return runtime.Event{Seq: e.Seq, Time: t, RunID: runID, Kind: e.Kind, TaskRun: e.Task, MapIndex: e.MapIndex, Node: runtime.NoNode,
		Attempt: e.Attempt, State: e.State, Level: e.Level, Msg: e.Msg, Children: e.Children}
}

// remoteRuns lists a server's runs.
func remoteRuns(ctx context.Context, r *remoteFlags, flow, state string, limit int) ([]store.Run, error) {
	c, err := r.client()
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 1000
	}
	var list server.RunList
	if err := c.Do(ctx, "GET", server.Query("/runs", "flow", flow, "state", runtimeState(state), "limit", fmt.Sprint(limit)), nil, &list); err != nil {
		return nil, remoteErr(err)
	}
	return list.Runs, nil
}

// runtimeState is a --state value as the API names it (failed: Failed).
func runtimeState(s string) string {
	if st, err := store.ParseState(s); err == nil && s != "" {
		return st.String()
	}
	return s
}

// remoteShow is `wfsh show RUN --server`.
func remoteShow(cmd *cobra.Command, id string, f *showFlags) error {
	c, err := f.remote.client()
	if err != nil {
		return err
	}
	d, err := remoteRun(cmd.Context(), c, id)
	if err != nil {
		return err
	}
	if err := printRun(cmd.OutOrStdout(), d.Run, d.TaskRuns, nil); err != nil {
		return err
	}
	// The runs it made (run_deployment in its flow), oldest first.
	var kids server.RunList
	if err := c.Do(cmd.Context(), "GET", server.Query("/runs", "parent", d.Run.ID, "limit", "1000"), nil, &kids); err != nil {
		return remoteErr(err)
	}
	if len(kids.Runs) == 0 {
		return nil
	}
	slices.Reverse(kids.Runs)
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nRUNS IT MADE\tFLOW\tSTATE\tBY TASK RUN\n")
	for _, k := range kids.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, output.Cell(k.Flow), k.State, output.Cell(k.ParentTaskRun))
	}
	if kids.Next != "" {
		fmt.Fprintf(tw, "(the newest 1000: GET /api/v1/runs?parent=%s lists them all)\n", d.Run.ID)
	}
	return tw.Flush()
}

// remoteRun is a run of the server with its task runs.
func remoteRun(ctx context.Context, c *server.Client, id string) (server.RunDetail, error) {
	var d server.RunDetail
	if err := c.Do(ctx, "GET", "/runs/"+server.PathEscape(id), nil, &d); err != nil {
		return d, remoteErr(err)
	}
	return d, nil
}

// remoteLogs is `wfsh logs RUN --server`.
func remoteLogs(cmd *cobra.Command, id string, f *logsFlags, level runtime.Level) error {
	c, err := f.remote.client()
	if err != nil {
		return err
	}
	d, err := remoteRun(cmd.Context(), c, id)
	if err != nil {
		return err
	}
	if !f.follow {
		// The whole log as text, formatted by the server as wfsh logs
		// formats a local one (the store's decoders), copied as it comes.
		noKids := ""
		if f.noChildren {
			noKids = "true"
		}
		q := server.Query("/runs/"+server.PathEscape(d.Run.ID)+"/log.txt", "task", f.task, "level", strings.ToLower(level.String()), "no_children", noKids)
		tail := &lastLine{w: cmd.OutOrStdout()}
		if err := c.Copy(cmd.Context(), q, tail); err != nil {
			return &exitError{code: exitFailed, err: remoteErr(err)}
		}
		if bytes.HasPrefix(tail.line, []byte(server.LogTextEnds)) {
			return &exitError{code: exitFailed, err: errors.New("the server could not read the whole log")}
		}
		return nil
	}
	// Parameters' and constants' runs are not counted as tasks', as the
	// server's text counts them.
	notTask := map[string]bool{}
	for _, tr := range d.TaskRuns {
		if store.IsValueKind(tr.Kind) {
			notTask[tr.Name] = true
		}
	}
	p := &output.LogPrinter{Out: cmd.OutOrStdout(), Level: level, ProgressEvery: math.MaxInt64,
		NotTask: func(run, node string) bool { return run == d.Run.ID && notTask[node] }}
	if _, err := followLogs(cmd.Context(), c, d.Run.ID, f.task, f.follow, p); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}

// lastLine writes to w and keeps the start of the last line written (up
// to 64 bytes): where the server says a log ends early.
type lastLine struct {
	w    io.Writer
	line []byte
	nl   bool // the last byte written ended a line
}

func (l *lastLine) Write(p []byte) (int, error) {
	if len(p) > 0 {
		i := bytes.LastIndexByte(p[:len(p)-1], '\n') // -1: p starts no line, or the one after l.nl
		if i >= 0 || l.nl {
			l.line = l.line[:0]
		}
		rest := p[i+1:]
		l.line = append(l.line, rest[:min(max(64-len(l.line), 0), len(rest))]...)
		l.nl = p[len(p)-1] == '\n'
	}
	return l.w.Write(p)
}

func newCancelCmd() *cobra.Command {
	var r remoteFlags
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: fullOnly["cancel"],
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

func newResumeCmd() *cobra.Command {
	var (
		r        remoteFlags
		watch    bool
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "resume RUN",
		Short: fullOnly["resume"],
		Long: `Resume a run of the server that ended Failed, Cancelled or Crashed: a new
run of its deployment, with its parameters, context and bundle, whose
worker takes the task runs that succeeded in RUN (their results) instead
of running them again. Prints the new run's id, or with --watch its log
until it ends, and exits as the run ended (0, 1, 130). A run in another
state is refused (exit 2). For a run of the local store: wfsh run
--resume RUN FILE.`,
		Example: `  wfsh resume 3f2a9c1e
  wfsh resume 3f2a9c1e --watch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			var run store.Run
			if err := c.Do(cmd.Context(), "POST", "/runs/"+server.PathEscape(args[0])+"/resume", nil, &run); err != nil {
				return remoteErr(err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wfsh: run %s resumes run %s on %s\n", run.ID, run.ResumedFrom, c.Base)
			return madeRun(cmd, c, run.ID, watch, logLevel)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&watch, "watch", false, "follow the new run's log until it ends; exit as its state says")
	fl.StringVar(&logLevel, "log-level", "info", "with --watch: debug, info, warning or error")
	r.register(fl)
	return cmd
}
