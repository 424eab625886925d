package runner

import (
	"context"
	"fmt"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/plugins/host"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
	"github.com/wfsh/wfsh/runtime"
)

// PluginHost serves load("@name") from m: it tells builtins what a plugin
// exports and carries Starlark values to and from its calls over the
// wire (pluginvalues.go), so that builtins knows nothing of the protocol.
func PluginHost(m *host.Manager) builtins.PluginHost { return pluginHost{m} }

type pluginHost struct{ m *host.Manager }

func (h pluginHost) Describe(ctx context.Context, plugin string) (*builtins.PluginDescription, error) {
	d, err := h.m.Describe(ctx, plugin)
	if err != nil {
		return nil, err
	}
	out := &builtins.PluginDescription{Version: d.GetVersion()}
	for _, f := range d.GetFunctions() {
		fn := builtins.PluginFunction{Name: f.GetName()}
		for _, p := range f.GetParams() {
			fn.Params = append(fn.Params, builtins.PluginParam{Name: p.GetName(), Required: p.GetRequired()})
		}
		out.Functions = append(out.Functions, fn)
	}
	for _, tc := range d.GetTaskConstructors() {
		out.TaskConstructors = append(out.TaskConstructors, builtins.PluginTaskConstructor{Name: tc.GetName(), Function: tc.GetFunction()})
	}
	return out, nil
}

func (h pluginHost) Call(ctx context.Context, plugin string, c *builtins.PluginCall) (starlark.Value, error) {
	entries := make([]*pb.Entry, 0, len(c.Args))
	for _, a := range c.Args {
		w, err := toWire(a.Value)
		if err != nil {
			return nil, fmt.Errorf("argument %s: %v", a.Name, err)
		}
		entries = append(entries, &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: a.Name}}, Value: w})
	}
	req := &pb.CallRequest{Function: c.Function, Args: entries, TaskRun: c.TaskRun, FlowRunId: c.FlowRun}
	v, err := h.m.Call(ctx, plugin, req, func(l *pb.LogLine) {
		if c.Log != nil {
			c.Log(logLevel(l.GetLevel()), l.GetText())
		}
	})
	if err != nil {
		return nil, err
	}
	return fromWire(v)
}

func logLevel(l pb.LogLine_Level) runtime.Level {
	switch l {
	case pb.LogLine_DEBUG:
		return runtime.Debug
	case pb.LogLine_WARNING:
		return runtime.Warning
	case pb.LogLine_ERROR:
		return runtime.Error
	}
	return runtime.Info
}
