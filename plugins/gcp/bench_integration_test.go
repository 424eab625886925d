//go:build gcp_integration

package gcp

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/wfsh/wfsh/internal/benchstat"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// Benchmarks of @gcp against the emulators (make bench-gcp): the cost of a
// BigQuery call through the plugin against the same call from a plain Go
// program, and Cloud Storage throughput of a 100 MB object through the
// plugin against the plain client. The emulators' own time is in both
// sides of each comparison.

// benchManager is a started plugin process (this test binary serving
// @gcp), for benchmarks that call it many times.
func benchManager(b *testing.B) *host.Manager {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "wfsh-plugin-gcp")); err != nil {
		b.Fatal(err)
	}
	m := host.NewManager(host.Options{Dirs: []string{dir}}, nil, 0)
	b.Cleanup(m.Stop)
	if _, err := m.Describe(context.Background(), "gcp"); err != nil {
		b.Fatal(err)
	}
	return m
}

func benchCall(b *testing.B, m *host.Manager, fn string, args map[string]any) any {
	b.Helper()
	req := &pb.CallRequest{Function: fn, TaskRun: "bench", FlowRunId: "bench"}
	for k, v := range args {
		ev, err := sdk.Encode(v)
		if err != nil {
			b.Fatal(err)
		}
		req.Args = append(req.Args, &pb.Entry{Key: &pb.Value{Kind: &pb.Value_StringValue{StringValue: k}}, Value: ev})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v, err := m.Call(ctx, "gcp", req, func(*pb.LogLine) {})
	if err != nil {
		b.Fatal(err)
	}
	res, err := sdk.Decode(v)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

const benchQuery = "SELECT 1 AS n"

// BenchmarkBigQueryQuery: one op is the same one-row query job twice,
// alternately: as bigquery_query(fetch=True) through a started plugin
// process, and from a plain Go program (jobs.insert, wait, read the rows).
// Alternating keeps both sides under the same load; plugin-p50-ms,
// direct-p50-ms and their ratio are reported.
func BenchmarkBigQueryQuery(b *testing.B) {
	e := needEmulators(b)
	m := benchManager(b)
	ctx := context.Background()
	var viaPlugin, direct []time.Duration
	for b.Loop() {
		t0 := time.Now()
		rows := benchCall(b, m, "bigquery_query", map[string]any{"query": benchQuery, "fetch": true})
		viaPlugin = append(viaPlugin, time.Since(t0))
		if len(rows.([]any)) != 1 {
			b.Fatalf("rows %v", rows)
		}
		t0 = time.Now()
		if n := directQuery(b, ctx, e); n != 1 {
			b.Fatalf("%d rows", n)
		}
		direct = append(direct, time.Since(t0))
	}
	benchstat.Durations(viaPlugin).Report(b, "plugin", time.Millisecond, "ms")
	benchstat.Durations(direct).Report(b, "direct", time.Millisecond, "ms")
	slices.Sort(viaPlugin)
	slices.Sort(direct)
	b.ReportMetric(float64(benchstat.Percentile(viaPlugin, 50))/float64(benchstat.Percentile(direct, 50)), "p50-ratio")
}

func directQuery(b *testing.B, ctx context.Context, e *emulators) int {
	job, err := e.bq.Query(benchQuery).Run(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := job.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	it, err := job.Read(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		var row []bigquery.Value
		if err := it.Next(&row); err == iterator.Done {
			return n
		} else if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

const benchObjectSize = 100 << 20

// benchFile writes a 100 MB file of random bytes.
func benchFile(b *testing.B) (string, [32]byte) {
	b.Helper()
	data := make([]byte, benchObjectSize)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(data)
	path := filepath.Join(b.TempDir(), "object.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path, sha256.Sum256(data)
}

// BenchmarkGCSPlugin: a 100 MB object uploaded from a file (path=,
// streamed) and from a bytes value (data=, sent to the plugin in chunks),
// downloaded to a file (path=, streamed), and downloaded as a bytes value
// (streamed to wfsh in chunks as it is read), through the plugin. Each mode has a
// plugin process of its own, whose peak resident memory is reported
// (plugin-peak-MB), to show how many copies of the object it held; B/op is
// what the host side (this process) allocated per call, to show how many
// it held.
func BenchmarkGCSPlugin(b *testing.B) {
	e := needEmulators(b)
	src, _ := benchFile(b)
	bucket := e.bucket(b)
	dst := filepath.Join(b.TempDir(), "copy.bin")
	if _, err := callFnB(b, "gcs_upload", map[string]any{"bucket": bucket, "blob": "object.bin", "path": src}); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"upload-path", "upload-data", "download-path", "download-bytes"} {
		b.Run(mode, func(b *testing.B) {
			m := benchManager(b)
			b.SetBytes(benchObjectSize)
			b.ReportAllocs()
			for b.Loop() {
				switch mode {
				case "upload-path":
					benchCall(b, m, "gcs_upload", map[string]any{"bucket": bucket, "blob": "object.bin", "path": src})
				case "upload-data":
					benchCall(b, m, "gcs_upload", map[string]any{"bucket": bucket, "blob": "object.bin", "data": data})
				case "download-path":
					benchCall(b, m, "gcs_download", map[string]any{"bucket": bucket, "blob": "object.bin", "path": dst})
				case "download-bytes":
					v := benchCall(b, m, "gcs_download", map[string]any{"bucket": bucket, "blob": "object.bin", "as_bytes": true})
					if len(v.([]byte)) != benchObjectSize {
						b.Fatalf("%d bytes", len(v.([]byte)))
					}
				}
			}
			b.ReportMetric(float64(childPeakRSS(b))/(1<<20), "plugin-peak-MB")
		})
	}
}

// callFnB calls a function in-process (for setting up a benchmark).
func callFnB(b *testing.B, fn string, args map[string]any) (any, error) {
	for _, f := range testPlugin.Functions {
		if f.Name == fn {
			a := map[string]any{}
			for _, prm := range f.Params {
				if !prm.Required {
					v, _ := sdk.Encode(prm.Default)
					a[prm.Name], _ = sdk.Decode(v)
				}
			}
			for k, v := range args {
				a[k] = v
			}
			return f.Run(context.Background(), &sdk.Call{Args: a})
		}
	}
	b.Fatalf("no function %s", fn)
	return nil, nil
}

// childPeakRSS is the largest peak resident set (VmHWM) among this
// process's children: the plugin process of the running sub-benchmark.
func childPeakRSS(b *testing.B) int64 {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var peak int64
	for _, t := range tasks {
		kids, _ := os.ReadFile(t)
		for _, pid := range strings.Fields(string(kids)) {
			status, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					peak = max(peak, kb<<10)
				}
			}
		}
	}
	return peak
}

// BenchmarkGCSDirect: the same with the plain client: from a file, to a
// file, into memory.
func BenchmarkGCSDirect(b *testing.B) {
	e := needEmulators(b)
	src, _ := benchFile(b)
	bucket := e.bucket(b)
	obj := e.gcs.Bucket(bucket).Object("object.bin")
	dst := filepath.Join(b.TempDir(), "copy.bin")
	ctx := context.Background()
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"upload-path", "upload-data", "download-path", "download-bytes"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(benchObjectSize)
			for b.Loop() {
				var err error
				switch mode {
				case "upload-path":
					err = func() error {
						f, err := os.Open(src)
						if err != nil {
							return err
						}
						defer f.Close()
						w := obj.NewWriter(ctx)
						if _, err := io.Copy(w, f); err != nil {
							return err
						}
						return w.Close()
					}()
				case "upload-data":
					err = func() error {
						w := obj.NewWriter(ctx)
						if _, err := w.Write(data); err != nil {
							return err
						}
						return w.Close()
					}()
				case "download-path":
					err = func() error {
						r, err := obj.NewReader(ctx)
						if err != nil {
							return err
						}
						defer r.Close()
						f, err := os.Create(dst)
						if err != nil {
							return err
						}
						if _, err := io.Copy(f, r); err != nil {
							f.Close()
							return err
						}
						return f.Close()
					}()
				case "download-bytes":
					err = func() error {
						r, err := obj.NewReader(ctx)
						if err != nil {
							return err
						}
						defer r.Close()
						data, err := io.ReadAll(r)
						if err == nil && len(data) != benchObjectSize {
							b.Fatalf("%d bytes", len(data))
						}
						return err
					}()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
