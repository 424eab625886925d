//go:build k8s_integration

package kubernetes

// `wfsh run --on kubernetes` end to end. The submit-and-follow half runs
// for real against the API server. The flow run's pod "runs" under kwok,
// which runs no container, so the test plays the kubelet: it reads the
// Job's pod spec, mounts the ConfigMap (writes its files), resolves the
// env (the Secret), gives the process a service account token and the
// in-cluster environment, runs the container's command with the wfsh
// binary, writes its output where kwok serves the pod's log from, and
// ends the pod with the command's exit code.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const flowRunSecret = "s3cr3t-db-password"

// remoteFlow is the flow sent to the cluster: it loads a .star file and a
// YAML file, reads a parameter, the context and a secret, and runs a Job
// of its own from inside the cluster (in-cluster configuration).
var remoteFlow = map[string]string{
	"etl/flow.star": `load("@kubernetes", "run_namespaced_job")
load("lib/util.star", "greeting")

inner = run_namespaced_job(name="inner", namespace="` + nsFlowRun + `")
conf = load_yaml("jobs/inner.yaml")

@task
def hello(who):
    if who == "nobody":
        fail("nobody to greet")
    print(greeting(who) + " on " + context.today)
    return who

@task
def check_secret():
    print("the password has %d characters" % len(secret("DB_PASSWORD")))

@flow(name="remote-etl")
def remote_etl(who="world"):
    h = hello(who)
    inner(body=conf, upstream_tasks=[h])
    check_secret()
`,
	"etl/lib/util.star": `def greeting(who):
    return "hello, " + who
`,
	"etl/jobs/inner.yaml": `apiVersion: batch/v1
kind: Job
metadata: {name: inner}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
`,
	"etl/unused.txt": "not loaded, not shipped\n",
	"job_spec.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  labels: {team: data}
spec:
  activeDeadlineSeconds: 600
  template:
    metadata:
      labels: {wfsh-test/hold: "true"}
    spec:
      serviceAccountName: ` + runnerSA + `
      containers:
      - name: wfsh
        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
`,
}

// TestFlowRunAsJob is not parallel: the flow run's pod log file is shared
// by the cases.
func TestFlowRunAsJob(t *testing.T) {
	ctx := context.Background()
	_, err := cluster.admin.CoreV1().Secrets(nsFlowRun).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": flowRunSecret},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, remoteFlow)

	t.Run("success", func(t *testing.T) {
		w, job, cm := submitFlowRun(t, dir, "k8s")
		out, code := playKubelet(t, job, cm)
		if code != 0 {
			t.Fatalf("the flow run in the cluster exited %d:\n%s", code, out)
		}
		for _, want := range []string{
			"wfsh.hello | hello, k8s on 2020-11-30",
			"wfsh.check_secret | the password has 18 characters",
			"wfsh.inner | created job wfsh-flowrun/inner-",
			"Flow run SUCCESS: all reference tasks succeeded",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the flow run in the cluster printed no %q:\n%s", want, out)
			}
		}
		if code := w.wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("wfsh run --on kubernetes exited %d\nstdout:\n%s\nstderr:\n%s", code, w.stdout.String(), w.stderr.String())
		}
		t.Logf("in the cluster:\n%s\nthe local wfsh's stdout:\n%s\nstderr:\n%s", out, w.stdout.String(), w.stderr.String())
		// the local command printed the cluster's log, each line once
		stdout := w.stdout.String()
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if n := strings.Count(stdout, l+"\n"); n != 1 {
				t.Errorf("line %q printed %d times by the local wfsh\nstdout:\n%s", l, n, stdout)
			}
		}
		if stderr := w.stderr.String(); !strings.Contains(stderr, "wfsh: submitted the flow run as job wfsh-flowrun/"+job.Name) ||
			!strings.Contains(stderr, "wfsh: job wfsh-flowrun/"+job.Name+": Complete") {
			t.Errorf("stderr:\n%s", stderr)
		}
		flowRunGone(t, job, cm)
	})

	t.Run("failure", func(t *testing.T) {
		w, job, cm := submitFlowRun(t, dir, "nobody")
		out, code := playKubelet(t, job, cm)
		if code != 1 || !strings.Contains(out, "nobody to greet") {
			t.Fatalf("the failing flow run in the cluster exited %d:\n%s", code, out)
		}
		if code := w.wait(t, 2*time.Minute); code != 1 {
			t.Fatalf("wfsh run --on kubernetes exited %d, want 1\nstdout:\n%s\nstderr:\n%s", code, w.stdout.String(), w.stderr.String())
		}
		if !strings.Contains(w.stdout.String(), "Flow run FAILED") {
			t.Errorf("stdout:\n%s", w.stdout.String())
		}
		if stderr := w.stderr.String(); !strings.Contains(stderr, ": Failed: BackoffLimitExceeded") || !strings.Contains(stderr, "exited with code 1") {
			t.Errorf("stderr:\n%s", stderr)
		}
		flowRunGone(t, job, cm)
	})

	t.Run("interrupt", func(t *testing.T) {
		w, job, cm := submitFlowRun(t, dir, "k8s")
		if err := w.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := w.wait(t, time.Minute); code != 130 {
			t.Fatalf("exit %d after Ctrl-C, want 130\nstderr:\n%s", code, w.stderr.String())
		}
		flowRunGone(t, job, cm)
	})

	t.Run("bad input stays local", func(t *testing.T) {
		w := startWfsh(t, dir, "run", "--on", "kubernetes", "--image", "wfsh:test", "--namespace", nsFlowRun, "etl/flow.star", "-p", "nosuch=1")
		if code := w.wait(t, time.Minute); code != 2 {
			t.Fatalf("exit %d, want 2\nstderr:\n%s", code, w.stderr.String())
		}
		if cms, _ := cluster.admin.CoreV1().ConfigMaps(nsFlowRun).List(ctx, metav1.ListOptions{LabelSelector: LabelFlow}); len(cms.Items) > 0 {
			t.Errorf("bad input submitted %d ConfigMaps", len(cms.Items))
		}
	})
}

// submitFlowRun starts `wfsh run --on kubernetes` and waits for its pod to
// run; it checks what was submitted and returns the Job and the ConfigMap.
func submitFlowRun(t *testing.T, dir, who string) (*wfshRun, *batchv1.Job, *corev1.ConfigMap) {
	t.Helper()
	truncateLog(t, nsFlowRun)
	w := startWfsh(t, dir, "run", "--on", "kubernetes", "--image", "wfsh:test", "--namespace", nsFlowRun,
		"--job-spec", "job_spec.yaml", "etl/flow.star", "-p", "who="+who, "--context", "today=2020-11-30")
	var pod *corev1.Pod
	eventually(t, 60*time.Second, "the flow run's pod running", func() error {
		select {
		case <-w.done:
			return fmt.Errorf("wfsh exited %d: %s", w.code, w.stderr.String())
		default:
		}
		l, err := cluster.admin.CoreV1().Pods(nsFlowRun).List(context.Background(), metav1.ListOptions{LabelSelector: LabelFlow + "=remote-etl"})
		if err != nil {
			return err
		}
		for i := range l.Items {
			if l.Items[i].Status.Phase == corev1.PodRunning && l.Items[i].DeletionTimestamp == nil {
				pod = &l.Items[i]
				return nil
			}
		}
		return fmt.Errorf("%d pods, none running", len(l.Items))
	})
	job, err := cluster.admin.BatchV1().Jobs(nsFlowRun).Get(context.Background(), pod.Labels["batch.kubernetes.io/job-name"], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(job)
	if strings.Contains(string(raw), flowRunSecret) {
		t.Errorf("the secret's value is in the Job:\n%s", raw)
	}
	ctr := job.Spec.Template.Spec.Containers[0]
	if ctr.Image != "wfsh:test" || len(ctr.Env) != 1 || ctr.Env[0].ValueFrom == nil || ctr.Env[0].ValueFrom.SecretKeyRef.Name != "db" {
		t.Errorf("container %+v: want the image given and the secret by reference", ctr)
	}
	if job.Labels["team"] != "data" || job.Spec.ActiveDeadlineSeconds == nil || *job.Spec.ActiveDeadlineSeconds != 600 {
		t.Errorf("the job spec's labels and deadline were not kept: %v", job.Labels)
	}
	var cmName string
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm, err := cluster.admin.CoreV1().ConfigMaps(nsFlowRun).Get(context.Background(), cmName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != job.UID {
		t.Errorf("the ConfigMap's owners %+v: want the Job", cm.OwnerReferences)
	}
	var paths []string
	for _, v := range job.Spec.Template.Spec.Volumes {
		for _, it := range v.ConfigMap.Items {
			paths = append(paths, it.Path)
		}
	}
	if got := strings.Join(paths, " "); got != "flow.star jobs/inner.yaml lib/util.star" {
		t.Errorf("files shipped: %s", got)
	}
	return w, job, cm
}

// playKubelet runs the Job's container as a kubelet would, with the
// in-cluster environment, and ends its pod as the process ended.
func playKubelet(t *testing.T, job *batchv1.Job, cm *corev1.ConfigMap) (string, int) {
	t.Helper()
	root := t.TempDir()
	mount := func(p string) string { return strings.Replace(p, FlowDir, filepath.Join(root, "flow"), 1) }
	spec := job.Spec.Template.Spec
	for _, v := range spec.Volumes {
		for _, it := range v.ConfigMap.Items {
			writeFiles(t, filepath.Join(root, "flow"), map[string]string{it.Path: cm.Data[it.Key]})
		}
	}
	// the service account's volume
	sa := filepath.Join(root, "serviceaccount")
	tok, err := token(context.Background(), nsFlowRun, spec.ServiceAccountName)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(cluster.dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, sa, map[string]string{"token": tok, "ca.crt": string(ca), "namespace": nsFlowRun})

	ctr := spec.Containers[0]
	argv := append(append([]string(nil), ctr.Command...), ctr.Args...)
	if argv[0] != "wfsh" {
		t.Fatalf("the container runs %q, want wfsh", argv)
	}
	argv[0] = filepath.Join(cluster.binDir, "wfsh")
	for i := range argv {
		argv[i] = mount(argv[i])
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = mount(ctr.WorkingDir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root,
		"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=" + cluster.apiPort,
		ServiceAccountDirEnv + "=" + sa}
	for _, e := range ctr.Env {
		val := e.Value
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			s, err := cluster.admin.CoreV1().Secrets(job.Namespace).Get(context.Background(), ref.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			val = string(s.Data[ref.SecretKeyRef.Key])
		}
		cmd.Env = append(cmd.Env, e.Name+"="+val)
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	// the container's log, then its end
	appendLog(t, nsFlowRun, strings.Split(strings.TrimRight(string(out), "\n"), "\n")...)
	pods, err := cluster.admin.CoreV1().Pods(job.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("the flow run's pods: %v, %v", pods, err)
	}
	labels := map[string]any{"wfsh-test/hold": nil}
	if code != 0 {
		labels["wfsh-test/fail"] = "true"
	}
	patchPod(t, job.Namespace, pods.Items[0].Name, labels, map[string]any{"wfsh-test/exit-code": fmt.Sprint(code)})
	return string(out), code
}

// flowRunGone waits until the flow run's Job, pod and ConfigMap are
// deleted.
func flowRunGone(t *testing.T, job *batchv1.Job, cm *corev1.ConfigMap) {
	t.Helper()
	eventually(t, 60*time.Second, "the flow run's Job and ConfigMap deleted", func() error {
		ctx := context.Background()
		if _, err := cluster.admin.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("job: %v", err)
		}
		if _, err := cluster.admin.CoreV1().ConfigMaps(cm.Namespace).Get(ctx, cm.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("configmap: %v", err)
		}
		pods, err := cluster.admin.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
		if err != nil || len(pods.Items) > 0 {
			return fmt.Errorf("pods: %v %v", pods, err)
		}
		return nil
	})
}
