package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "wfsh",
		Short: "Run Prefect-style workflows written in Starlark",
		Long: `wfsh runs workflows written in Starlark, a hermetic dialect of Python:
@task functions wired together by a @flow function. It builds the flow into
a graph, checks it, and runs its tasks concurrently.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("wfsh {{.Version}}\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(), newCheckCmd(), newGraphCmd(), newRunsCmd(), newShowCmd(), newLogsCmd(), newCacheCmd(),
		newBackfillCmd(), newScheduleCmd(), newPruneCmd())
	// The commands that need the server's libraries or the plugin
	// protocol: wfsh-full serves them (full.go, light.go).
	root.AddCommand(fullCommands()...)
	return root
}
