// Package pluginhost serves the load("@name") of flows run by the runner
// package from plugin executables (plugins/host): it says what a plugin
// exports and carries Starlark values to and from its calls over the
// wire (values.go), so that neither builtins nor runner knows the
// protocol. It is kept apart from runner so that an executable that runs
// flows without plugins links no go-plugin, gRPC or protobuf
// (docs/architecture.md, "Two executables").
package pluginhost

import (
	"context"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/plugins/host"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
	"github.com/wfsh/wfsh/runtime"
)

// Host serves a runner's plugins from a host.Manager.
type Host struct{ m *host.Manager }

// New finds plugins as docs/plugins.md ("Discovery and lifetime") says;
// go-plugin's own messages go to log (nil: nowhere).
func New(opt host.Options, log io.Writer) *Host {
	return &Host{m: host.NewManager(opt, log, hclog.Debug)}
}

// Manager is the plugin manager behind h.
func (h *Host) Manager() *host.Manager { return h.m }

// Stop ends the plugins started.
func (h *Host) Stop() { h.m.Stop() }

func (h *Host) Describe(ctx context.Context, plugin string) (*builtins.PluginDescription, error) {
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

func (h *Host) Call(ctx context.Context, plugin string, c *builtins.PluginCall) (starlark.Value, error) {
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
