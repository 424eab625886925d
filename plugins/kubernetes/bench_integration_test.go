//go:build k8s_integration

package kubernetes

// Benchmarks of run_namespaced_job against the local control plane (`make
// bench-k8s`; figures in docs/performance.md). Each iteration runs 20 Jobs
// through the real plugin process, one after the other, and reports
// medians:
//
//   - start→created: from the call (the task's start) to the plugin's
//     "created job" line reaching the host;
//   - complete→success: from the Job's Complete condition, as a watch of
//     the test sees it, to the call's result reaching the host;
//   - job-ms: the whole call;
//   - plugin-cpu-ms/job: CPU time of the plugin process per Job.
//
// BenchmarkJobLogs/none has log_level=None (no pod watch, no log reads):
// the difference with /info is the cost of the logs path; the watch of the
// Job itself is always there.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

const benchJobs = 20

func BenchmarkJobLogs(b *testing.B) {
	for _, level := range []any{"info", nil} {
		name := "none"
		if level != nil {
			name = level.(string)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchJobs20(b, level)
			}
		})
	}
}

func benchJobs20(b *testing.B, level any) {
	m := host.NewManager(host.Options{Dirs: []string{cluster.pluginDir}}, nil, hclog.Off)
	defer m.Stop()
	// start the plugin before timing: a run starts it when the flow loads
	if _, err := m.Describe(context.Background(), "kubernetes"); err != nil {
		b.Fatal(err)
	}
	pid := pluginPID(b)
	flowRun := randomID("bench-")
	completeAt := watchComplete(b, flowRun)
	var toCreated, toSuccess, total []time.Duration
	cpu0 := cpuTime(b, pid)
	for i := range benchJobs {
		lines := newCallLines()
		created := make(chan time.Time, 1)
		onLog := func(text string) {
			if strings.HasPrefix(text, "INFO created job ") {
				created <- time.Now()
			}
		}
		start := time.Now()
		res, err := callTimed(m, flowRun, fmt.Sprint("job[", i, "]"), map[string]any{
			"body": jobBodyB(), "namespace": nsTest, "log_level": level,
		}, lines, onLog)
		end := time.Now()
		if err != nil {
			b.Fatalf("run_job: %v\n%s", err, lines)
		}
		total = append(total, end.Sub(start))
		toCreated = append(toCreated, (<-created).Sub(start))
		name := res.(map[string]any)["name"].(string)
		at := completeAt(name)
		toSuccess = append(toSuccess, end.Sub(at))
	}
	cpu := cpuTime(b, pid) - cpu0
	b.ReportMetric(ms(median(toCreated)), "start→created-ms")
	b.ReportMetric(ms(median(toSuccess)), "complete→success-ms")
	b.ReportMetric(ms(median(total)), "job-ms")
	b.ReportMetric(ms(cpu)/benchJobs, "plugin-cpu-ms/job")
}

// BenchmarkMapped20 runs 20 Jobs at once, as a mapped task does, through
// one plugin process: the wall time until the last one has been created
// (all-created) and has succeeded (all-20).
func BenchmarkMapped20(b *testing.B) {
	m := host.NewManager(host.Options{Dirs: []string{cluster.pluginDir}}, nil, hclog.Off)
	defer m.Stop()
	if _, err := m.Describe(context.Background(), "kubernetes"); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		flowRun := randomID("bench-map-")
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, benchJobs)
		var mu sync.Mutex
		var lastCreated time.Duration
		for i := range benchJobs {
			wg.Go(func() {
				_, err := callTimed(m, flowRun, fmt.Sprint("job[", i, "]"),
					map[string]any{"body": jobBodyB(), "namespace": nsTest}, newCallLines(), func(text string) {
						if strings.HasPrefix(text, "INFO created job ") {
							mu.Lock()
							lastCreated = max(lastCreated, time.Since(start))
							mu.Unlock()
						}
					})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(ms(time.Since(start)), "all-20-ms")
		b.ReportMetric(ms(lastCreated), "all-created-ms")
	}
}

// callTimed is call, with each log line also handed to onLog as it comes.
func callTimed(m *host.Manager, flowRun, taskRun string, args map[string]any, lines *callLines, onLog func(string)) (any, error) {
	var entries []*pb.Entry
	for k, v := range args {
		w, err := sdk.Encode(v)
		if err != nil {
			return nil, err
		}
		key, _ := sdk.Encode(k)
		entries = append(entries, &pb.Entry{Key: key, Value: w})
	}
	req := &pb.CallRequest{Function: "run_job", Args: entries, FlowRunId: flowRun, TaskRun: taskRun}
	v, err := m.Call(context.Background(), "kubernetes", req, func(l *pb.LogLine) {
		lines.add(l)
		onLog(l.GetLevel().String() + " " + l.GetText())
	})
	if err != nil {
		return nil, err
	}
	return sdk.Decode(v)
}

func jobBodyB() map[string]any {
	return map[string]any{
		"metadata": map[string]any{"name": "bench"},
		"spec": map[string]any{"backoffLimit": int64(0), "template": map[string]any{"spec": map[string]any{
			"restartPolicy": "Never",
			"containers":    []any{map[string]any{"name": "main", "image": "busybox"}},
		}}},
	}
}

// watchComplete watches the flow run's Jobs and returns a function that
// waits for the moment a Job was seen Complete.
func watchComplete(b *testing.B, flowRun string) func(name string) time.Time {
	w, err := cluster.admin.BatchV1().Jobs(nsTest).Watch(context.Background(), metav1.ListOptions{LabelSelector: LabelFlowRun + "=" + flowRun})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	var mu sync.Mutex
	seen := map[string]time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			j, ok := ev.Object.(*batchv1.Job)
			if !ok || ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
					mu.Lock()
					if _, ok := seen[j.Name]; !ok {
						seen[j.Name] = time.Now()
					}
					mu.Unlock()
				}
			}
		}
	}()
	return func(name string) time.Time {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			at, ok := seen[name]
			mu.Unlock()
			if ok {
				return at
			}
			time.Sleep(time.Millisecond)
		}
		b.Fatalf("the watch never saw job %s Complete", name)
		return time.Time{}
	}
}

// pluginPID is the plugin process: the child of this process that runs
// this test binary.
func pluginPID(b *testing.B) int {
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if ppid, _ := strconv.Atoi(f[1]); ppid == self {
			return pid
		}
	}
	b.Fatal("no plugin process found")
	return 0
}

// cpuTime is the user+system CPU time of a process, from /proc (ticks of
// 10 ms).
func cpuTime(b *testing.B, pid int) time.Duration {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
