package gcp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/host/hosttest"
)

// BenchmarkPluginStart: one op starts the real wfsh-plugin-gcp (built for
// the benchmark, or $WFSH_BENCH_PLUGIN_DIR's) through host.Manager, as
// `wfsh run` does when a flow loads "@gcp", waits for Describe's answer
// (process start with the Google clients' package initialisation,
// go-plugin handshake, gRPC connection, one RPC), then stops it.
func BenchmarkPluginStart(b *testing.B) {
	dir := os.Getenv("WFSH_BENCH_PLUGIN_DIR")
	if dir == "" {
		dir = b.TempDir()
		proctest.BuildT(b, map[string]string{filepath.Join(dir, "wfsh-plugin-gcp"): "./cmd/wfsh-plugin-gcp"})
	}
	hosttest.BenchmarkStart(b, host.Options{Dirs: []string{dir}}, "gcp")
}
