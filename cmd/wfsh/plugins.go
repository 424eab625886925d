//go:build !wfshlight

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
	"github.com/wfsh/wfsh/plugins/shell"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runner/pluginhost"
)

// builtinPlugins are served by wfsh itself: `wfsh __plugin NAME`.
var builtinPlugins = map[string]func() *sdk.Plugin{"shell": shell.Plugin}

// self is the wfsh executable as it was started, so that a plugin served
// by wfsh itself runs the same program.
func self() string {
	name := os.Args[0]
	if !strings.ContainsRune(name, filepath.Separator) {
		if p, err := exec.LookPath(name); err == nil {
			name = p
		}
	}
	if abs, err := filepath.Abs(name); err == nil {
		return abs
	}
	exe, _ := os.Executable()
	return exe
}

// pluginOptions find plugins as docs/plugins.md says, wfsh's own served by this
// executable.
func pluginOptions() host.Options {
	names := make([]string, 0, len(builtinPlugins))
	for n := range builtinPlugins {
		names = append(names, n)
	}
	return host.Options{Self: self(), Builtin: names, Reap: true}
}

// flowPlugins serve flows' load("@name"): plugin executables found as
// docs/plugins.md says, wfsh's own served by this executable.
func flowPlugins(log io.Writer) runner.Plugins { return pluginhost.New(pluginOptions(), log) }

func newServePluginCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "__plugin NAME",
		Short:  fullOnly["__plugin"],
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := builtinPlugins[args[0]]
			if p == nil {
				return badInput(fmt.Errorf("wfsh serves no plugin named %q", args[0]))
			}
			sdk.Serve(p())
			return nil
		},
	}
}

func newPluginsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "plugins",
		Short: fullOnly["plugins"],
		Long: `List the plugins found: executables named wfsh-plugin-NAME next to wfsh, in
$WFSH_PLUGIN_DIR, or on $PATH (the first one found wins), and the plugins wfsh
serves itself. Each plugin is started to ask what it exports.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h := pluginhost.New(pluginOptions(), nil)
			defer h.Stop()
			return listPlugins(cmd.Context(), cmd.OutOrStdout(), h.Manager())
		},
	}
}

func listPlugins(ctx context.Context, out io.Writer, m *host.Manager) error {
	failed := 0
	for _, f := range m.Options().Discover() {
		where := f.Path
		if f.Builtin {
			where = "served by wfsh"
		}
		d, err := m.Describe(ctx, f.Name)
		if err != nil {
			fmt.Fprintf(out, "@%s (%s): error: %v\n", f.Name, where, err)
			failed++
			continue
		}
		fmt.Fprintf(out, "@%s %s (%s)\n", f.Name, d.GetVersion(), where)
		for _, fn := range d.GetFunctions() {
			fmt.Fprintf(out, "  %s(%s)\n", fn.GetName(), paramList(fn))
		}
		for _, tc := range d.GetTaskConstructors() {
			fmt.Fprintf(out, "  %s(name, ...task options, ...arguments of %s)  task constructor\n", tc.GetName(), tc.GetFunction())
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}

func paramList(fn *pb.Function) string {
	parts := make([]string, len(fn.GetParams()))
	for i, p := range fn.GetParams() {
		parts[i] = p.GetName()
		if !p.GetRequired() {
			parts[i] += "=" + wireString(p.GetDefault())
		}
	}
	return strings.Join(parts, ", ")
}

// wireString shows a default value as Starlark would.
func wireString(v *pb.Value) string {
	switch k := v.GetKind().(type) {
	case nil, *pb.Value_None:
		return "None"
	case *pb.Value_BoolValue:
		if k.BoolValue {
			return "True"
		}
		return "False"
	case *pb.Value_StringValue:
		return fmt.Sprintf("%q", k.StringValue)
	}
	d, _ := sdk.Decode(v)
	return fmt.Sprint(d)
}
