package gcp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wfsh/wfsh/plugins/host"
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
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "wfsh-plugin-gcp"), "./cmd/wfsh-plugin-gcp")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	opts := host.Options{Dirs: []string{dir}}
	ctx := context.Background()
	var start, stop []time.Duration
	for b.Loop() {
		m := host.NewManager(opts, nil, hclog.Off)
		t0 := time.Now()
		d, err := m.Describe(ctx, "gcp")
		t1 := time.Now()
		m.Stop()
		t2 := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if d.GetName() != "gcp" {
			b.Fatalf("described %q", d.GetName())
		}
		start, stop = append(start, t1.Sub(t0)), append(stop, t2.Sub(t1))
	}
	reportQuantiles(b, "start", start)
	reportQuantiles(b, "stop", stop)
}

// reportQuantiles reports the median and 99th percentile of ds in ms.
func reportQuantiles(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), name+"-p50-ms")
	b.ReportMetric(ms(ds[min(len(ds)-1, len(ds)*99/100)]), name+"-p99-ms")
}
