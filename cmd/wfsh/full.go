//go:build !wfshlight

package main

import "github.com/spf13/cobra"

// This is the full wfsh (the default build, `go install ./cmd/wfsh`, and
// wfsh-full of `make build`): it serves every command itself. Built with
// the tag wfshlight, wfsh is the light executable that hands the commands
// below, and runs of flows that load plugins, to wfsh-full (light.go;
// docs/architecture.md, "Two executables").

// fullCommands are the commands that link the server's libraries or the
// plugin protocol.
func fullCommands() []*cobra.Command {
	return []*cobra.Command{newPluginsCmd(), newServePluginCmd(), newServerCmd(), newWorkerCmd(), newDeployCmd(),
		newCancelCmd(), newResumeCmd(), newLoginCmd(), newTokenCmd(), newSecretCmd(), newPoolCmd(), newDeploymentCmd(), newLimitCmd(), newLintCmd(), newReplCmd(), newServeCmd(), newFmtCmd()}
}

// handOffFlow is where the light executable hands a command on a flow
// that loads a plugin to wfsh-full; this one serves plugins.
func handOffFlow(string) error { return nil }

// handOffStore is where the light executable hands a command on a
// PostgreSQL store to wfsh-full; this one links the driver.
func handOffStore(string) error { return nil }
