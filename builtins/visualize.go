package builtins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// visualizeFormats are the formats of flow.visualize(), as of `wfsh graph`.
var visualizeFormats = []string{"dot", "svg", "png"}

// flowVisualize is flow.visualize(filename=None, format=None,
// flow_state=None): the flow's graph, nodes coloured by the final states
// of a run (flow_state, a result of flow.run(); by default the flow's last
// run, if any). With filename it writes filename.FORMAT (a filename that
// already ends in .FORMAT is kept) and returns that path; only a session
// (`wfsh repl`) may write files. Without, it returns the drawing: DOT or
// SVG text, PNG bytes. The format defaults to filename's extension, else
// png; without filename, to dot. SVG and PNG need Graphviz's dot.
func flowVisualize(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f := b.Receiver().(*Flow)
	var filename, format string
	var state starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "filename?", &filename, "format?", &format, "flow_state?", &state); err != nil {
		return nil, err
	}
	if taskRunOf(thread) != nil || builderOf(thread) != nil {
		return nil, fmt.Errorf("visualize: not in a task or flow body; call it at the prompt of `wfsh repl` or a file's top level")
	}
	format, path, err := visualizeTarget(filename, format)
	if err != nil {
		return nil, err
	}
	if path != "" && (f.env == nil || !f.env.opts.Interactive) {
		return nil, fmt.Errorf("visualize: filename=: flow code does not write files; use `wfsh repl` or `wfsh graph -o %s`, or leave filename out to get the drawing as a value", path)
	}
	g, states, err := f.visualizeGraph(state)
	if err != nil {
		return nil, err
	}
	out, err := f.draw(thread, g, states, format)
	if err != nil {
		return nil, err
	}
	if path == "" {
		if format == "png" {
			return starlark.Bytes(out), nil
		}
		return starlark.String(out), nil
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return nil, fmt.Errorf("visualize: %v", readError(err))
	}
	return starlark.String(path), nil
}

// visualizeTarget settles the format and the file to write ("": none).
func visualizeTarget(filename, format string) (string, string, error) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(filename)), ".")
	switch {
	case format == "" && filename == "":
		format = "dot"
	case format == "" && known(ext):
		format = ext
	case format == "":
		format = "png"
	}
	format = strings.ToLower(format)
	if !known(format) {
		return "", "", fmt.Errorf("visualize: unknown format %q; want one of %s", format, strings.Join(visualizeFormats, ", "))
	}
	if filename == "" || ext == format {
		return format, filename, nil
	}
	return format, filename + "." + format, nil
}

func known(format string) bool {
	for _, f := range visualizeFormats {
		if f == format {
			return true
		}
	}
	return false
}

// visualizeGraph picks the graph to draw and its states: those of the run
// given, else of the flow's last run, else the flow built afresh.
func (f *Flow) visualizeGraph(state starlark.Value) (*runtime.Graph, map[string]runtime.State, error) {
	var r *runResult
	switch s := state.(type) {
	case starlark.NoneType:
		f.mu.Lock()
		r = f.lastRun
		f.mu.Unlock()
	case *runResult:
		r = s
	default:
		return nil, nil, fmt.Errorf("visualize: flow_state must be the result of a flow.run(), got %s", state.Type())
	}
	if r != nil && r.graph != nil {
		if r.graph.Flow != f.name {
			return nil, nil, fmt.Errorf("visualize: flow_state is a run of flow %s, not %s", r.graph.Flow, f.name)
		}
		states := make(map[string]runtime.State, len(r.nodes))
		for name, t := range r.nodes {
			states[name] = t.State
		}
		return r.graph, states, nil
	}
	build, err := f.Build(BuildOptions{Check: true})
	if err != nil {
		return nil, nil, err
	}
	return build.Graph, nil, nil
}

// draw has the loader's drawer draw g (LoadOptions.Draw): DOT, or a
// Graphviz rendering of it.
func (f *Flow) draw(thread *starlark.Thread, g *runtime.Graph, states map[string]runtime.State, format string) ([]byte, error) {
	if f.env == nil || f.env.opts.Draw == nil {
		return nil, fmt.Errorf("visualize: no drawing here; use `wfsh graph`")
	}
	ctx, _ := thread.Local("context").(context.Context)
	if ctx == nil {
		ctx = context.Background()
	}
	out, err := f.env.opts.Draw(ctx, g, states, format)
	var ng *NoGraphvizError
	if errors.As(err, &ng) {
		return nil, fmt.Errorf("visualize: %s output needs Graphviz's dot command, which is not on PATH: %s; or draw DOT with format=\"dot\"",
			strings.ToUpper(format), ng.Hint)
	}
	if err != nil {
		return nil, fmt.Errorf("visualize: %v", err)
	}
	return out, nil
}

// NoGraphvizError is what a LoadOptions.Draw returns when Graphviz's dot
// is missing; Hint says how to install it.
type NoGraphvizError struct{ Hint string }

func (e *NoGraphvizError) Error() string { return "Graphviz's dot command is not on PATH: " + e.Hint }
