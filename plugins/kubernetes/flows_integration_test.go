//go:build k8s_integration

package kubernetes

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestK8sETLFlow runs flows/k8s_etl.star, the seed's Kubernetes flow, with
// wfsh against the local control plane.
func TestK8sETLFlow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// every Job the flow creates, as created
	w, err := cluster.admin.BatchV1().Jobs(nsTest).Watch(ctx, metav1.ListOptions{LabelSelector: "app=bikeshare-etl"})
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan *batchv1.Job, 10)
	go func() {
		for ev := range w.ResultChan() {
			if j, ok := ev.Object.(*batchv1.Job); ok && ev.Type == watch.Added {
				created <- j
			}
		}
	}()
	flows, err := filepath.Abs("../../flows")
	if err != nil {
		t.Fatal(err)
	}
	run := startWfsh(t, flows, "run", "k8s_etl.star", "--context", "today=2020-11-30", "-p", "namespace="+nsTest)
	if code := run.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, run.stdout.String(), run.stderr.String())
	}
	out := run.stdout.String()
	m := regexp.MustCompile(`wfsh\.report \| loaded bikeshare_stations_20201130 \(job (load-stations-[a-z0-9]{5})\) and bikeshare_trips_20201130 \(job (load-trips-[a-z0-9]{5})\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout:\n%s", out)
	}
	for _, want := range []string{"wfsh.load_stations | wfsh-test pod log line 1", "wfsh.load_trips | wfsh-test pod log line 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in stdout:\n%s", want, out)
		}
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case j := <-created:
			seen[j.Name] = true
			c := j.Spec.Template.Spec.Containers[0]
			var date string
			for _, e := range c.Env {
				if e.Name == "DATE" {
					date = e.Value
				}
				if e.Name == "PGPASSWORD" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("job %s: the password is not taken from the Secret: %+v", j.Name, e)
				}
			}
			if date != "20201130" || c.Image != "embulk-bikeshare:latest" {
				t.Errorf("job %s: DATE=%q, image %q", j.Name, date, c.Image)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("saw jobs %v, want %s and %s", seen, m[1], m[2])
		}
	}
	if !seen[m[1]] || !seen[m[2]] {
		t.Errorf("saw jobs %v, want %s and %s", seen, m[1], m[2])
	}
}
