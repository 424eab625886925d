// Package hosttest holds what the plugin benchmarks of several packages
// share.
package hosttest

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wfsh/wfsh/internal/benchstat"
	"github.com/wfsh/wfsh/plugins/host"
)

// BenchmarkStart: one op starts the plugin name as wfsh does, through
// host.Manager, and asks what it exports (process start, go-plugin
// handshake, gRPC connection, Describe), then stops it. start-p50-ms and
// start-p99-ms are the start up to Describe's answer; stop-p50-ms the Stop.
func BenchmarkStart(b *testing.B, opts host.Options, name string) {
	ctx := context.Background()
	var start, stop benchstat.Durations
	for b.Loop() {
		m := host.NewManager(opts, nil, hclog.Off)
		t0 := time.Now()
		d, err := m.Describe(ctx, name)
		t1 := time.Now()
		m.Stop()
		t2 := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if d.GetName() != name {
			b.Fatalf("described %q, want %s", d.GetName(), name)
		}
		start.Add(t1.Sub(t0))
		stop.Add(t2.Sub(t1))
	}
	start.Report(b, "start", time.Millisecond, "ms")
	stop.Report(b, "stop", time.Millisecond, "ms")
}
