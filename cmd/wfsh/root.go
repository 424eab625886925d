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
	root.AddCommand(newRunCmd(), newCheckCmd(), newGraphCmd(), newPluginsCmd(), newServePluginCmd(),
		newRunsCmd(), newShowCmd(), newLogsCmd(), newCacheCmd(), newBackfillCmd(), newScheduleCmd(), newServeCmd(), newPruneCmd(),
		newServerCmd(), newWorkerCmd(), newDeployCmd(), newCancelCmd(), newResumeCmd(), newLoginCmd(), newTokenCmd(), newSecretCmd(),
		newPoolCmd(), newDeploymentCmd(), newLimitCmd(), newFmtCmd(), newLintCmd())
	root.AddCommand(newReplCmd())
	return root
}
