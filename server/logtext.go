package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// LogTextEnds starts the last line of a log as text that could not be
// read whole: what went wrong follows it.
const LogTextEnds = "wfsh: the log ends here:"

func (s *Server) logTextRoutes() {
	o := op("run-log-text", http.MethodGet, "/runs/{id}/log.txt", auth.RunsRead, "A run's whole log as text, as wfsh logs prints it")
	o.Description = "Streamed as it is read from the store: the log of any size, never held in memory."
	o.Responses = map[string]*huma.Response{"200": {Description: "the log's lines",
		Content: map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: "string"}}}}}
	huma.Register(s.api, o, func(ctx context.Context, in *struct {
		RunPath
		Task       string `query:"task" doc:"only this task's lines (its mapped runs' too) and the flow's"`
		Level      string `query:"level" enum:"debug,info,warning,error" default:"info" doc:"the lowest level shown"`
		NoChildren bool   `query:"no_children" doc:"only the run's own lines, not those of its subflows' child flow runs (merged in by default, nested as the run's process printed them)"`
	}) (*huma.StreamResponse, error) {
		r, err := s.serverRun(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		level, err := runtime.ParseLevel(in.Level)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("level: " + err.Error())
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			hc.SetHeader("Content-Type", "text/plain; charset=utf-8")
			hc.SetHeader("X-Content-Type-Options", "nosniff")
			hc.SetHeader("Cache-Control", "no-store")
			if err := WriteLogText(hc.Context(), s.st, r, in.Task, level, !in.NoChildren, hc.BodyWriter()); err != nil {
				fmt.Fprintf(hc.BodyWriter(), "%s %v\n", LogTextEnds, err)
			}
		}}, nil
	})
}

// WriteLogText writes run's log, the lines of task (all: ""), at level
// and above, to w as wfsh logs prints it: the store's decoders format
// the task log lines, a LogPrinter the rest, read one chunk at a time.
// With children, a run with subflows has its child runs' lines merged
// in, nested (store.EachLogTree: the child runs' logs are then in
// memory, and every line goes through the printer).
func WriteLogText(ctx context.Context, st *store.Store, run store.Run, task string, level runtime.Level, children bool, w io.Writer) error {
	out := bufio.NewWriterSize(w, 64<<10)
	p := &output.LogPrinter{Out: out, Level: level, ProgressEvery: math.MaxInt64, NotTask: st.NotTasks(ctx)}
	if children {
		kids, err := st.HasSubflowRuns(ctx, run.ID)
		if err != nil {
			return err
		}
		if kids {
			err := st.EachLogTree(ctx, run.ID, store.LogFilter{Task: task}, func(e *runtime.Event) error {
				p.Emit(*e)
				return nil
			})
			return endLogText(out, run, err)
		}
	}
	text := store.LogText{
		NewFormatter: func() store.LogFormatter { return p.LineFormatter() },
		Write: func(b []byte) error {
			_, err := out.Write(b)
			return err
		},
	}
	_, err := st.EachLogText(ctx, run.ID, store.LogFilter{Task: task}, text, func(e *runtime.Event) error {
		p.Emit(*e)
		return nil
	})
	return endLogText(out, run, err)
}

// endLogText ends a log as text: what the reading's err cut short, or
// how a run that Crashed ended.
func endLogText(out *bufio.Writer, run store.Run, err error) error {
	if err != nil {
		out.Flush()
		return err
	}
	if run.State == runtime.Crashed {
		fmt.Fprintf(out, "[%s] ERROR - wfsh.FlowRunner | Flow run CRASHED: %s\n",
			run.FinishedAt.Format("2006-01-02 15:04:05-0700"), run.Message)
	}
	return out.Flush()
}
