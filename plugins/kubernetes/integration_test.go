//go:build k8s_integration

package kubernetes

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var podLines = []string{"INFO wfsh-test pod log line 1", "INFO wfsh-test pod log line 2", "INFO wfsh-test pod log line 3"}

func TestJobSucceeds(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun, lines := randomID("ok-"), newCallLines()
	res, err := call(context.Background(), m, "run_job", flowRun, "load_stations[2]", map[string]any{
		"body": jobBody(t, nil, map[string]string{"wfsh-test/duration": "500ms"}, 0), "namespace": nsTest,
	}, lines)
	if err != nil {
		t.Fatalf("run_job: %v\nlog:\n%s", err, lines)
	}
	r := res.(map[string]any)
	name, _ := r["name"].(string)
	if r["status"] != "Complete" || r["succeeded"] != int64(1) || r["namespace"] != nsTest || !regexp.MustCompile(`^load-stations-[a-z0-9]{5}$`).MatchString(name) {
		t.Errorf("result %v", r)
	}
	for _, want := range append([]string{"INFO created job wfsh-test/" + name, "INFO job wfsh-test/" + name + " succeeded"}, podLines...) {
		if n := lines.count(want); n != 1 {
			t.Errorf("%d lines %q, want 1; log:\n%s", n, want, lines)
		}
	}
	// deleted after completion, with its pods (background propagation)
	if _, err := cluster.admin.BatchV1().Jobs(nsTest).Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Job is still there after the task: %v", err)
	}
	goneJobs(t, nsTest, flowRun)
}

func TestJobLabels(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun, lines := randomID("labels-"), newCallLines()
	res, err := call(context.Background(), m, "run_job", flowRun, "load_stations[2]", map[string]any{
		"body": jobBody(t, nil, nil, 0), "namespace": nsTest, "delete_job_after_completion": false,
	}, lines)
	if err != nil {
		t.Fatalf("run_job: %v\nlog:\n%s", err, lines)
	}
	name := res.(map[string]any)["name"].(string)
	jobs := jobsOf(t, nsTest, flowRun)
	if len(jobs) != 1 || jobs[0].Name != name {
		t.Fatalf("jobs of the flow run: %d, want the one run_job made (%s)", len(jobs), name)
	}
	j := jobs[0]
	if j.Labels[LabelTaskRun] != "load_stations-2" || j.Annotations[AnnotationTaskRun] != "load_stations[2]" ||
		j.Spec.Template.Labels[LabelFlowRun] != flowRun || j.Spec.Template.Labels[LabelTaskRun] != "load_stations-2" {
		t.Errorf("labels %v, annotations %v, pod labels %v", j.Labels, j.Annotations, j.Spec.Template.Labels)
	}
	if len(j.Status.Conditions) == 0 || j.Status.Succeeded != 1 {
		t.Errorf("the kept Job's status: %+v", j.Status)
	}
	// delete_namespaced_job deletes it; a second time it is not found
	if _, err := call(context.Background(), m, "delete_namespaced_job", flowRun, "cleanup", map[string]any{"name": name, "namespace": nsTest}, newCallLines()); err != nil {
		t.Fatal(err)
	}
	goneJobs(t, nsTest, flowRun)
	_, err = call(context.Background(), m, "delete_namespaced_job", flowRun, "cleanup", map[string]any{"name": name, "namespace": nsTest}, newCallLines())
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("deleting a deleted Job: %v, want not found", err)
	}
	if _, err := call(context.Background(), m, "delete_namespaced_job", flowRun, "cleanup", map[string]any{"name": name, "namespace": nsTest, "ignore_not_found": true}, newCallLines()); err != nil {
		t.Errorf("ignore_not_found=True: %v", err)
	}
}

func TestJobFails(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun, lines := randomID("fail-"), newCallLines()
	_, err := call(context.Background(), m, "run_job", flowRun, "load_trips", map[string]any{
		"body": jobBody(t, map[string]string{"wfsh-test/fail": "true"}, map[string]string{"wfsh-test/exit-code": "3"}, 0), "namespace": nsTest,
	}, lines)
	if err == nil {
		t.Fatalf("a failing Job succeeded; log:\n%s", lines)
	}
	re := regexp.MustCompile(`^job wfsh-test/load-stations-[a-z0-9]{5} failed: BackoffLimitExceeded: Job has reached the specified backoff limit; pod load-stations-[a-z0-9]{5}-[a-z0-9]{5} exited with code 3 \(Error\); last log lines:\nwfsh-test pod log line 1\nwfsh-test pod log line 2\nwfsh-test pod log line 3$`)
	if !re.MatchString(err.Error()) {
		t.Errorf("error:\n%v", err)
	}
	if !strings.Contains(lines.String(), "WARNING pod load-stations-") {
		t.Errorf("the failed pod was not reported in the log:\n%s", lines)
	}
	goneJobs(t, nsTest, flowRun)
}

func TestJobFailsAfterRetries(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun, lines := randomID("retry-"), newCallLines()
	// backoffLimit 1: a second pod after the first fails (the Job
	// controller waits ~10 s before it)
	_, err := call(context.Background(), m, "run_job", flowRun, "load_trips", map[string]any{
		"body": jobBody(t, map[string]string{"wfsh-test/fail": "true"}, nil, 1), "namespace": nsTest,
	}, lines)
	if err == nil || !strings.Contains(err.Error(), "failed: BackoffLimitExceeded") {
		t.Fatalf("error: %v\nlog:\n%s", err, lines)
	}
	failed := regexp.MustCompile(`(?m)^WARNING pod (load-stations-\S+) exited with code 1 \(Error\)$`).FindAllStringSubmatch(lines.String(), -1)
	if len(failed) != 2 || failed[0][1] == failed[1][1] {
		t.Fatalf("want two pods failed in the log:\n%s", lines)
	}
	if !strings.Contains(err.Error(), "; pod "+failed[1][1]+" exited with code 1") {
		t.Errorf("the error does not name the last failed pod %s:\n%v", failed[1][1], err)
	}
	if n := lines.count(podLines[0]); n != 2 {
		t.Errorf("the log of each of the two pods: %d lines %q, want 2", n, podLines[0])
	}
	goneJobs(t, nsTest, flowRun)
}

func TestLogsAreStreamedWhileTheJobRuns(t *testing.T) {
	t.Parallel() // the only test in namespace wfsh-stream
	m := newHost(t)
	flowRun, lines := randomID("stream-"), newCallLines()
	done := make(chan error, 1)
	go func() {
		_, err := call(context.Background(), m, "run_job", flowRun, "stream", map[string]any{
			"body": jobBody(t, map[string]string{"wfsh-test/hold": "true"}, nil, 0), "namespace": nsStream, "log_level": "warning",
		}, lines)
		done <- err
	}()
	pod := runningPod(t, nsStream, LabelFlowRun+"="+flowRun)
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("row batch %d loaded", i)
		appendLog(t, nsStream, text)
		// the line reaches the task's log while the Job still runs
		lines.waitFor(t, "WARNING "+text, 30*time.Second)
	}
	release(t, pod)
	if err := <-done; err != nil {
		t.Fatalf("run_job: %v\nlog:\n%s", err, lines)
	}
	for i := 1; i <= 3; i++ {
		if n := lines.count(fmt.Sprintf("WARNING row batch %d loaded", i)); n != 1 {
			t.Errorf("line %d seen %d times; log:\n%s", i, n, lines)
		}
	}
}

func TestNoLogsWhenLogLevelIsNone(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun, lines := randomID("quiet-"), newCallLines()
	_, err := call(context.Background(), m, "run_job", flowRun, "quiet", map[string]any{
		"body": jobBody(t, map[string]string{"wfsh-test/fail": "true"}, nil, 0), "namespace": nsTest, "log_level": nil,
	}, lines)
	// not streamed, but the failure still quotes the log
	if err == nil || !strings.HasSuffix(err.Error(), "last log lines:\nwfsh-test pod log line 1\nwfsh-test pod log line 2\nwfsh-test pod log line 3") {
		t.Errorf("error: %v", err)
	}
	if strings.Contains(lines.String(), "pod log line") {
		t.Errorf("log_level=None streamed the pod's log:\n%s", lines)
	}
}

func TestCancelDeletesTheJobOnTheServer(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun, lines := randomID("cancel-"), newCallLines()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := call(ctx, m, "run_job", flowRun, "held", map[string]any{
			"body": jobBody(t, map[string]string{"wfsh-test/hold": "true"}, nil, 0), "namespace": nsTest,
		}, lines)
		done <- err
	}()
	runningPod(t, nsTest, LabelFlowRun+"="+flowRun)
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("a cancelled call: %v", err)
	}
	// the plugin deletes the Job after the call has ended, and the
	// garbage collector its pod
	goneJobs(t, nsTest, flowRun)
}

func TestCreateReadDeleteFunctions(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun := randomID("fn-")
	body := jobBody(t, map[string]string{"wfsh-test/hold": "true"}, nil, 0)
	body["metadata"] = map[string]any{"name": flowRun}
	res, err := call(context.Background(), m, "create_namespaced_job", flowRun, "create", map[string]any{"body": body, "namespace": nsTest}, newCallLines())
	if err != nil {
		t.Fatal(err)
	}
	meta := res.(map[string]any)["metadata"].(map[string]any)
	if meta["name"] != flowRun || meta["uid"] == "" || res.(map[string]any)["kind"] != "Job" {
		t.Errorf("create_namespaced_job returned metadata %v", meta)
	}
	pod := runningPod(t, nsTest, "batch.kubernetes.io/job-name="+flowRun)
	logs, err := call(context.Background(), m, "read_namespaced_pod_logs", flowRun, "read", map[string]any{"name": pod.Name, "namespace": nsTest}, newCallLines())
	if err != nil {
		t.Fatal(err)
	}
	if logs != "wfsh-test pod log line 1\nwfsh-test pod log line 2\nwfsh-test pod log line 3\n" {
		t.Errorf("logs %q", logs)
	}
	logs, err = call(context.Background(), m, "read_namespaced_pod_logs", flowRun, "read", map[string]any{"name": pod.Name, "namespace": nsTest, "tail_lines": int64(1)}, newCallLines())
	if err != nil || logs != "wfsh-test pod log line 3\n" {
		t.Errorf("tail_lines=1: %q, %v", logs, err)
	}
	if _, err := call(context.Background(), m, "delete_namespaced_job", flowRun, "delete", map[string]any{"name": flowRun, "namespace": nsTest}, newCallLines()); err != nil {
		t.Fatal(err)
	}
	goneJobs(t, nsTest, flowRun)
}

func TestWaitFalseReturnsOnceCreated(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	flowRun := randomID("nowait-")
	res, err := call(context.Background(), m, "run_job", flowRun, "fire", map[string]any{
		"body": jobBody(t, map[string]string{"wfsh-test/hold": "true"}, nil, 0), "namespace": nsTest, "wait": false,
	}, newCallLines())
	if err != nil {
		t.Fatal(err)
	}
	r := res.(map[string]any)
	if r["status"] != "Created" {
		t.Errorf("result %v", r)
	}
	pod := runningPod(t, nsTest, LabelFlowRun+"="+flowRun)
	if jobs := jobsOf(t, nsTest, flowRun); len(jobs) != 1 || jobs[0].Name != r["name"] {
		t.Errorf("jobs of the flow run: %v", jobs)
	}
	release(t, pod)
	if _, err := call(context.Background(), m, "delete_namespaced_job", flowRun, "delete", map[string]any{"name": r["name"], "namespace": nsTest}, newCallLines()); err != nil {
		t.Fatal(err)
	}
	goneJobs(t, nsTest, flowRun)
}

func TestBadManifest(t *testing.T) {
	t.Parallel()
	m := newHost(t)
	body := jobBody(t, nil, nil, 0)
	body["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["contianers"] = []any{}
	_, err := call(context.Background(), m, "run_job", "bad", "bad", map[string]any{"body": body, "namespace": nsTest}, newCallLines())
	if err == nil || !strings.Contains(err.Error(), `body: unknown field "spec.template.spec.contianers"`) {
		t.Errorf("a misspelt field: %v", err)
	}
	// the API server's own validation: a Job's pods may not restart Always
	body = jobBody(t, nil, nil, 0)
	body["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["restartPolicy"] = "Always"
	_, err = call(context.Background(), m, "run_job", "bad", "bad", map[string]any{"body": body, "namespace": nsTest}, newCallLines())
	if err == nil || !strings.Contains(err.Error(), `spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`) {
		t.Errorf("an invalid Job: %v", err)
	}
}

// TestWatchSurvivesAPIServerRestart is not parallel: the API server goes
// away for every test.
func TestWatchSurvivesAPIServerRestart(t *testing.T) {
	m := newHost(t)
	flowRun, lines := randomID("restart-"), newCallLines()
	done := make(chan error, 1)
	var name string
	go func() {
		res, err := call(context.Background(), m, "run_job", flowRun, "survivor", map[string]any{
			"body": jobBody(t, map[string]string{"wfsh-test/hold": "true"}, nil, 0), "namespace": nsTest,
		}, lines)
		if err == nil {
			name = res.(map[string]any)["name"].(string)
		}
		done <- err
	}()
	pod := runningPod(t, nsTest, LabelFlowRun+"="+flowRun)
	lines.waitFor(t, podLines[2], 30*time.Second)
	out, err := exec.Command(cluster.script, "restart-apiserver", cluster.dir).CombinedOutput()
	if err != nil {
		t.Fatalf("restart-apiserver: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	// the pod completes after the restart: the Job's change reaches the
	// task only through the resumed watch
	eventually(t, 60*time.Second, "releasing the held pod", func() error {
		_, err := cluster.admin.CoreV1().Pods(nsTest).Patch(context.Background(), pod.Name, "application/merge-patch+json",
			[]byte(`{"metadata":{"labels":{"wfsh-test/hold":null}}}`), metav1.PatchOptions{})
		return err
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run_job: %v\nlog:\n%s", err, lines)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("run_job did not end after the restart; log:\n%s", lines)
	}
	if !strings.Contains(lines.String(), "DEBUG watch of job wfsh-test/"+name+" dropped") {
		t.Errorf("the watch did not drop (did the API server restart?); log:\n%s", lines)
	}
	for _, l := range podLines {
		if n := lines.count(l); n != 1 {
			t.Errorf("%d lines %q after the restart, want 1; log:\n%s", n, l, lines)
		}
	}
	goneJobs(t, nsTest, flowRun)
}

// TestRoleIsMinimal runs the runner, which uses every verb of the Role,
// under the Role without each of its verbs in turn: each run must fail or
// report the refusal. Under the whole Role, nothing is refused.
func TestRoleIsMinimal(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, kubeContext string) (string, error) {
		m := newHost(t)
		lines := newCallLines()
		args := map[string]any{
			"image": "wfsh:test", "namespace": nsRBAC, "kube_context": kubeContext,
			"files":     map[string]any{"flow.star": "@flow\ndef f():\n    pass\n"},
			"flow_file": "flow.star", "flow_name": "rbac",
		}
		_, err := call(context.Background(), m, "submit_flow_run", randomID("rbac-"), "", args, lines)
		if err != nil {
			return lines.String(), err
		}
		// a Job the API server refuses: the ConfigMap made for it is deleted
		args["job_spec"] = "spec:\n  template:\n    spec:\n      restartPolicy: Always\n"
		_, err = call(context.Background(), m, "submit_flow_run", randomID("rbac-"), "", args, lines)
		if err == nil || !strings.Contains(err.Error(), "restartPolicy") {
			return lines.String(), fmt.Errorf("a refused Job: %v", err)
		}
		return lines.String(), nil
	}
	refused := regexp.MustCompile(`(?i)forbidden|cannot (create|list|watch|delete|patch|get)`)
	t.Run("full", func(t *testing.T) {
		t.Parallel()
		log, err := run(t, "full")
		if err != nil || refused.MatchString(log) {
			t.Errorf("under the Role: %v\nlog:\n%s", err, log)
		}
	})
	for _, v := range cluster.variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			log, err := run(t, v.name)
			switch {
			case err != nil:
				t.Logf("without %s on %s: %v", v.verb, v.resource, err)
			case refused.MatchString(log):
				t.Logf("without %s on %s: %s", v.verb, v.resource, refused.FindString(log))
			default:
				t.Errorf("without %s on %s, nothing failed: the Role has a verb it does not need\nlog:\n%s", v.verb, v.resource, log)
			}
		})
	}
}

// TestMappedRunOf20Jobs runs a flow with wfsh: one mapped task, 20 Jobs.
func TestMappedRunOf20Jobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caseID := randomID("map-")
	writeFiles(t, dir, map[string]string{
		"job.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: load
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {wfsh-test/case: ` + caseID + `}
      annotations: {wfsh-test/duration: 300ms}
    spec:
      restartPolicy: Never
      containers:
      - name: embulk
        image: embulk-bikeshare:latest
`,
		"mapped.star": `load("@kubernetes", "run_namespaced_job")

load_day = run_namespaced_job(name="load_day", namespace="` + nsTest + `")
conf = load_yaml("job.yaml")

@task
def bodies(conf, n):
    out = []
    for i in range(n):
        job = json.decode(json.encode(conf))
        job["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "INDEX", "value": str(i)}]
        out.append(job)
    return out

@task
def count(results):
    print("jobs: %d, succeeded: %d" % (len(results), len([r for r in results if r["status"] == "Complete"])))

@flow(name="mapped")
def mapped():
    count(load_day.map(body=bodies(conf, 20)))
`,
	})
	w := startWfsh(t, dir, "run", "mapped.star")
	if code := w.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, w.stdout.String(), w.stderr.String())
	}
	out := w.stdout.String()
	if !strings.Contains(out, "jobs: 20, succeeded: 20") {
		t.Errorf("stdout:\n%s", out)
	}
	created := regexp.MustCompile(`wfsh\.load_day\[(\d+)\] \| created job wfsh-test/(load-[a-z0-9]{5})`).FindAllStringSubmatch(out, -1)
	names, indexes := map[string]bool{}, map[string]bool{}
	for _, c := range created {
		indexes[c[1]], names[c[2]] = true, true
	}
	if len(names) != 20 || len(indexes) != 20 {
		t.Errorf("%d distinct Jobs for %d map indexes, want 20 and 20\nstdout:\n%s", len(names), len(indexes), out)
	}
	eventually(t, 60*time.Second, "the 20 Jobs deleted", func() error {
		l, err := cluster.admin.CoreV1().Pods(nsTest).List(context.Background(), metav1.ListOptions{LabelSelector: "wfsh-test/case=" + caseID})
		if err != nil {
			return err
		}
		if len(l.Items) > 0 {
			return fmt.Errorf("%d pods left", len(l.Items))
		}
		return nil
	})
}

// TestTaskTimeoutDeletesTheJob runs a flow whose Job outlives the task's
// timeout.
func TestTaskTimeoutDeletesTheJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caseID := randomID("timeout-")
	writeFiles(t, dir, map[string]string{
		"timeout.star": `load("@kubernetes", "run_namespaced_job")

held = run_namespaced_job(name="held", namespace="` + nsTest + `", timeout="3s")

@flow(name="timeout")
def timeout():
    held(body={"metadata": {"name": "held"}, "spec": {"backoffLimit": 0, "template": {
        "metadata": {"labels": {"wfsh-test/hold": "true", "wfsh-test/case": "` + caseID + `"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}})
`,
	})
	w := startWfsh(t, dir, "run", "timeout.star")
	if code := w.wait(t, 2*time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, w.stdout.String(), w.stderr.String())
	}
	if out := w.stdout.String(); !strings.Contains(out, "final state: 'TimedOut'") {
		t.Errorf("stdout:\n%s", out)
	}
	eventually(t, 60*time.Second, "the timed-out Job deleted", func() error {
		l, err := cluster.admin.CoreV1().Pods(nsTest).List(context.Background(), metav1.ListOptions{LabelSelector: "wfsh-test/case=" + caseID})
		if err != nil {
			return err
		}
		jobs, err := cluster.admin.BatchV1().Jobs(nsTest).List(context.Background(), metav1.ListOptions{LabelSelector: LabelTaskRun + "=held"})
		if err != nil {
			return err
		}
		var left []string
		for _, j := range jobs.Items {
			if j.Spec.Template.Labels["wfsh-test/case"] == caseID {
				left = append(left, j.Name)
			}
		}
		if len(l.Items)+len(left) > 0 {
			return fmt.Errorf("jobs %v and %d pods left", left, len(l.Items))
		}
		return nil
	})
}
