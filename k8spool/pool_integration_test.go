//go:build k8s_integration

package k8spool_test

// The kubernetes work pool against the tier's real control plane (`make
// test-k8s`: KUBECONFIG, and WFSH_BIN_DIR with wfsh and
// wfsh-worker-kubernetes built by make): `wfsh server` and `wfsh worker
// --pool k8s --job-template F` run as local processes, as a user would
// run them. kwok runs no container: where a run must really run, the test
// plays the container, running the Job's own command and environment (its
// token resolved from the run's Secret) with the real wfsh, and then lets
// kwok end the pod.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/k8spool"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

var (
	admin  k8s.Interface
	binDir string
)

func TestMain(m *testing.M) {
	binDir = os.Getenv("WFSH_BIN_DIR")
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil || binDir == "" {
		fmt.Fprintln(os.Stderr, "k8spool integration tests: need KUBECONFIG and WFSH_BIN_DIR (make test-k8s):", err)
		os.Exit(1)
	}
	admin = k8s.NewForConfigOrDie(cfg)
	os.Exit(m.Run())
}

const flowSrc = `
@task
def say_hello(name):
    print("Hello, %s!" % name)
    return name

@flow(name="K8sPool")
def k8s_pool(name="world"):
    say_hello(name)
`

// env is one test's server, pool, deployment and namespace.
type env struct {
	t      testing.TB
	home   string
	srv    *server.Client // admin
	worker string         // a worker token of pool k8s
	ns     string
	tmpl   string // the template's file
	// serverTemplate: the server keeps the pool's template (wfsh pool
	// set), the worker is given none.
	serverTemplate bool
	workerArgs     []string         // more flags of wfsh worker
	workerOut      *proctest.Buffer // the output of the worker started last
	flowDir        string
}

func newEnv(t testing.TB, podLabels map[string]string, mutate func(*batchv1.Job)) *env {
	e := &env{t: t, home: t.TempDir()}
	e.ns = "pool-" + strings.ToLower(randHex(4))
	ctx := context.Background()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{}) })
	// The server.
	addr := freeAddr(t)
	tok := auth.New().Plaintext
	cmd := exec.Command(filepath.Join(binDir, "wfsh"), "server", "--listen", addr, "--lease", "2s", "--leader-ttl", "2s")
	cmd.Env = append(os.Environ(), "WFSH_HOME="+e.home, "WFSH_ADMIN_TOKEN="+tok, "WFSH_SECRET_KEY=")
	var errBuf proctest.Buffer
	cmd.Stdout, cmd.Stderr = &errBuf, &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("server:\n%s", errBuf.String())
		}
	})
	e.srv = &server.Client{Base: "http://" + addr, Token: tok}
	waitFor(t, 10*time.Second, "the server ready", func() bool {
		resp, err := http.Get(e.srv.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	// The pool, its worker token, the deployment.
	e.wfsh(tok, "pool", "create", "k8s", "--type", "kubernetes")
	e.worker = strings.TrimSpace(e.wfsh(tok, "token", "create", "--role", "worker", "--pool", "k8s"))
	e.flowDir = t.TempDir()
	os.WriteFile(filepath.Join(e.flowDir, "flow.star"), []byte(flowSrc), 0o644)
	os.WriteFile(filepath.Join(e.flowDir, "data.txt"), []byte("bundled\n"), 0o644)
	e.wfsh(tok, "deploy", filepath.Join(e.flowDir, "flow.star"), "--name", "daily", "--pool", "k8s")
	// The pool's base Job template.
	mem := "64Mi"
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Labels: map[string]string{"team": "etl"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
			Spec: corev1.PodSpec{
				ServiceAccountName: "default",
				NodeSelector:       map[string]string{"type": "kwok"},
				Tolerations:        []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
				Containers: []corev1.Container{{Name: "wfsh", Image: "registry.test/wfsh:v1",
					Env:       []corev1.EnvVar{{Name: "TEAM", Value: "etl"}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: mustQuantity(mem)}}}},
			}}},
	}
	if mutate != nil {
		mutate(job)
	}
	b, _ := json.Marshal(job)
	e.tmpl = filepath.Join(t.TempDir(), "template.json")
	os.WriteFile(e.tmpl, b, 0o644)
	return e
}

// wfsh runs a command of the CLI against the server; it must succeed.
func (e *env) wfsh(tok string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "wfsh"), args...)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+e.home, "WFSH_SERVER="+e.srv.Base, "WFSH_TOKEN="+tok)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("wfsh %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// startWorker starts `wfsh worker --pool k8s` (which execs
// wfsh-worker-kubernetes) with kubeconfig kc.
func (e *env) startWorker(kc string) *exec.Cmd {
	return e.startWorkerSlots(kc, 4)
}

func (e *env) startWorkerSlots(kc string, slots int) *exec.Cmd {
	e.t.Helper()
	args := []string{"worker", "--pool", "k8s", "--slots", fmt.Sprint(slots), "--start-timeout", "2s", "--grace", "1s"}
	if !e.serverTemplate {
		args = append(args, "--job-template", e.tmpl)
	}
	args = append(args, e.workerArgs...)
	cmd := exec.Command(filepath.Join(binDir, "wfsh"), args...)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+e.home, "WFSH_SERVER="+e.srv.Base, "WFSH_TOKEN="+e.worker, "KUBECONFIG="+kc)
	buf := &proctest.Buffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	e.workerOut = buf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if e.t.Failed() {
			e.t.Logf("worker %d:\n%s", cmd.Process.Pid, buf.String())
		}
	})
	return cmd
}

func (e *env) newRun() string {
	e.t.Helper()
	return strings.TrimSpace(e.wfsh(e.srv.Token, "run", "K8sPool/daily", "-p", `name="pod"`))
}

func (e *env) run(id string) store.Run {
	e.t.Helper()
	var d server.RunDetail
	if err := e.srv.Do(context.Background(), "GET", "/runs/"+id, nil, &d); err != nil {
		e.t.Fatal(err)
	}
	return d.Run
}

func (e *env) waitState(id string, want runtime.State, within time.Duration) store.Run {
	e.t.Helper()
	var r store.Run
	waitFor(e.t, within, "run "+id+" "+want.String(), func() bool { r = e.run(id); return r.State == want })
	return r
}

func (e *env) jobs(id string) []batchv1.Job {
	e.t.Helper()
	l, err := admin.BatchV1().Jobs(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: k8spool.LabelRun + "=" + id})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func (e *env) waitJob(id string) batchv1.Job {
	e.t.Helper()
	var js []batchv1.Job
	waitFor(e.t, 20*time.Second, "the run's job", func() bool { js = e.jobs(id); return len(js) > 0 })
	return js[0]
}

func (e *env) waitPod(job string, ok func(*corev1.Pod) bool) corev1.Pod {
	e.t.Helper()
	var pod corev1.Pod
	waitFor(e.t, 20*time.Second, "the job's pod", func() bool {
		l, _ := admin.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job})
		if l != nil && len(l.Items) == 1 && ok(&l.Items[0]) {
			pod = l.Items[0]
			return true
		}
		return false
	})
	return pod
}

// playContainer runs the Job's container as a kubelet would: its
// command and arguments, its environment with the token taken from the
// run's Secret, with the real wfsh, in an empty directory (the pod's
// WFSH_HOME). The pod's server URL is the test server's.
func (e *env) playContainer(job batchv1.Job) (string, int) {
	e.t.Helper()
	c := job.Spec.Template.Spec.Containers[0]
	envs := []string{"PATH=" + os.Getenv("PATH")}
	for _, v := range c.Env {
		val := v.Value
		if v.ValueFrom != nil {
			ref := v.ValueFrom.SecretKeyRef
			s, err := admin.CoreV1().Secrets(e.ns).Get(context.Background(), ref.Name, metav1.GetOptions{})
			if err != nil {
				e.t.Fatalf("the run's secret: %v", err)
			}
			val = string(s.Data[ref.Key])
			if v.Name == "WFSH_TOKEN" && (val == e.worker || !strings.HasPrefix(val, "wfsh_")) {
				e.t.Fatalf("the pod's token is not a run token of its own (the worker's: %v)", val == e.worker)
			}
		}
		if v.Name == "WFSH_HOME" {
			val = e.t.TempDir() // the pod's emptyDir
		}
		envs = append(envs, v.Name+"="+val)
	}
	if c.Command[0] != "wfsh" {
		e.t.Fatalf("command %q", c.Command)
	}
	cmd := exec.Command(filepath.Join(binDir, "wfsh"), c.Args...)
	cmd.Env = envs
	cmd.Dir = e.t.TempDir()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return string(out), code
}

func TestPoolRunSucceeds(t *testing.T) {
	e := newEnv(t, map[string]string{"wfsh-test/hold": "true"}, nil)
	e.startWorker(os.Getenv("KUBECONFIG"))
	t0 := time.Now()
	id := e.newRun()
	job := e.waitJob(id)
	t.Logf("run to job: %v", time.Since(t0))
	if n := len(e.jobs(id)); n != 1 {
		t.Fatalf("%d jobs", n)
	}
	// The Job: the template's fields kept, the worker's set.
	if job.Name != k8spool.JobName(id, 0) || job.Namespace != e.ns {
		t.Errorf("job %s/%s", job.Namespace, job.Name)
	}
	if *job.Spec.BackoffLimit != 0 || job.Spec.TTLSecondsAfterFinished == nil || *job.Spec.TTLSecondsAfterFinished != 600 {
		t.Errorf("backoffLimit %v ttl %v", *job.Spec.BackoffLimit, job.Spec.TTLSecondsAfterFinished)
	}
	if job.Labels["team"] != "etl" || job.Labels[k8spool.LabelRun] != id || job.Labels[k8spool.LabelPool] != "k8s" || job.Spec.Template.Labels[k8spool.LabelRun] != id {
		t.Errorf("labels %v, pod %v", job.Labels, job.Spec.Template.Labels)
	}
	ps := job.Spec.Template.Spec
	c := ps.Containers[0]
	if c.Image != "registry.test/wfsh:v1" || ps.ServiceAccountName != "default" || ps.NodeSelector["type"] != "kwok" || ps.RestartPolicy != corev1.RestartPolicyNever ||
		c.Resources.Limits.Memory().String() != "64Mi" || len(ps.Tolerations) != 1 {
		t.Errorf("pod spec %+v", ps)
	}
	wantArgs := []string{"run", "flow.star", "--server-run", id, "-p", `name="pod"`}
	if strings.Join(c.Args, " ") != strings.Join(wantArgs, " ") {
		t.Errorf("args %q, want %q", c.Args, wantArgs)
	}
	envs := map[string]corev1.EnvVar{}
	for _, v := range c.Env {
		envs[v.Name] = v
	}
	if envs["TEAM"].Value != "etl" || envs["WFSH_RUN_ID"].Value != id || envs["WFSH_SERVER"].Value != e.srv.Base || envs["WFSH_TOKEN"].ValueFrom == nil {
		t.Errorf("env %v", c.Env)
	}
	if envs["WFSH_TOKEN"].Value != "" || strings.Contains(mustJSON(job), e.worker) {
		t.Error("the token is in the Job")
	}
	if sc := c.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem || !*sc.RunAsNonRoot {
		t.Errorf("security context %+v", sc)
	}
	sec, err := admin.CoreV1().Secrets(e.ns).Get(context.Background(), job.Name, metav1.GetOptions{})
	if err != nil || len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != job.UID {
		t.Fatalf("the run's secret: %v %+v", err, sec)
	}
	// The pod runs (kwok holds it Running): the test is its container.
	pod := e.waitPod(job.Name, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	out, code := e.playContainer(job)
	if code != 0 || !strings.Contains(out, "Hello, pod!") {
		t.Fatalf("the container exited %d:\n%s", code, out)
	}
	// The container has ended: the pod completes.
	patchLabels(t, e.ns, pod.Name, `{"metadata":{"labels":{"wfsh-test/hold":null}}}`)
	r := e.waitState(id, runtime.Success, 10*time.Second)
	if r.Server == nil || r.Server.Crashes != 0 {
		t.Errorf("run %+v", r)
	}
	logs := e.wfsh(e.srv.Token, "logs", id)
	if !strings.Contains(logs, "Hello, pod!") {
		t.Errorf("the run's log on the server:\n%s", logs)
	}
	// It stays Success (no crash report after the pod's end), one Job.
	time.Sleep(1500 * time.Millisecond)
	if r := e.run(id); r.State != runtime.Success || len(e.jobs(id)) != 1 {
		t.Errorf("then %s, %d jobs", r.State, len(e.jobs(id)))
	}
}

// TestPoolJobTemplateOnServer: the pool's base Job template kept by the
// server (`wfsh pool set --job-template`), the worker started without
// one; a deployment's job variables (resources, node selector, env)
// appear in its run's Job over the template's; a job variable the pool
// does not allow, or a bad value, is refused by `wfsh deploy` with one
// line and exit 2, and changes nothing.
func TestPoolJobTemplateOnServer(t *testing.T) {
	e := newEnv(t, map[string]string{"wfsh-test/hold": "true"}, nil)
	e.serverTemplate = true
	e.wfsh(e.srv.Token, "pool", "set", "k8s", "--job-template", e.tmpl, "--job-variables", "resources,node_selector,env")
	flow := filepath.Join(e.flowDir, "flow.star")
	e.wfsh(e.srv.Token, "deploy", flow, "--name", "daily", "--pool", "k8s",
		"--job-var", `resources={"limits": {"memory": "256Mi"}, "requests": {"cpu": "250m"}}`,
		"--job-var", `node_selector={"type": "kwok", "wfsh-test/zone": "a"}`, "--job-var", `env={"TEAM": "reports", "DAY": "30"}`)
	for _, c := range []struct {
		jobVar, want string
	}{
		{"image=registry.test/other:v2", "server: the deployment is not valid: job_variables.image: pool k8s does not let deployments set image (it allows: resources, node_selector, env; wfsh pool set k8s --job-variables ...) (422)\n"},
		{`resources={"limits": {"memory": "lots"}}`, `server: the deployment is not valid: job_variables.resources: limits.memory: "lots" is not a quantity (such as 2, 500m, 512Mi, 1.5Gi) (422)` + "\n"},
	} {
		cmd := exec.Command(filepath.Join(binDir, "wfsh"), "deploy", flow, "--name", "daily", "--pool", "k8s", "--job-var", c.jobVar)
		cmd.Env = append(os.Environ(), "WFSH_HOME="+e.home, "WFSH_SERVER="+e.srv.Base, "WFSH_TOKEN="+e.srv.Token)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || stderr.String() != c.want {
			t.Errorf("--job-var %s: %v\n%s\nwant exit 2 and\n%s", c.jobVar, err, stderr.String(), c.want)
		}
	}
	e.startWorker(os.Getenv("KUBECONFIG"))
	id := e.newRun()
	job := e.waitJob(id)
	ps := job.Spec.Template.Spec
	c := ps.Containers[0]
	if c.Image != "registry.test/wfsh:v1" || ps.ServiceAccountName != "default" || len(ps.Tolerations) != 1 {
		t.Errorf("the template's fields: image %s, service account %s, tolerations %v", c.Image, ps.ServiceAccountName, ps.Tolerations)
	}
	if c.Resources.Limits.Memory().String() != "256Mi" || c.Resources.Requests.Cpu().String() != "250m" {
		t.Errorf("resources %v, want the deployment's limit 256Mi and request 250m", c.Resources)
	}
	if ps.NodeSelector["type"] != "kwok" || ps.NodeSelector["wfsh-test/zone"] != "a" {
		t.Errorf("node selector %v", ps.NodeSelector)
	}
	envs := map[string]string{}
	for _, v := range c.Env {
		envs[v.Name] = v.Value
	}
	if envs["TEAM"] != "reports" || envs["DAY"] != "30" || envs["WFSH_RUN_ID"] != id {
		t.Errorf("env %v", c.Env)
	}
	// The node has no label wfsh-test/zone: the real scheduler holds
	// the pod by the deployment's selector, and the run Crashes with the
	// scheduler's reason after --start-timeout; it was one Job.
	r := e.waitState(id, runtime.Crashed, 20*time.Second)
	if !strings.Contains(r.Message, "Unschedulable") || !strings.Contains(r.Message, "node affinity/selector") {
		t.Errorf("message %q", r.Message)
	}
	if n := len(e.jobs(id)); n > 1 {
		t.Errorf("%d jobs", n)
	}
}

// TestPoolFlowTimeout: a flow's timeout= goes with its deployment, and
// its runs' Jobs get activeDeadlineSeconds = the timeout + the worker's
// --deadline-margin (1 s here: 2 s + 1 s = 3). The pod hangs (kwok holds
// it Running, nothing reports); the real Job controller stops the Job at
// its deadline, and the run ends Failed (not Crashed: no crash retry)
// with the reason.
func TestPoolFlowTimeout(t *testing.T) {
	e := newEnv(t, map[string]string{"wfsh-test/hold": "true"}, nil)
	src := strings.Replace(flowSrc, `@flow(name="K8sPool")`, `@flow(name="K8sPool", timeout="2s")`, 1)
	os.WriteFile(filepath.Join(e.flowDir, "flow.star"), []byte(src), 0o644)
	e.wfsh(e.srv.Token, "deploy", filepath.Join(e.flowDir, "flow.star"), "--name", "daily", "--pool", "k8s", "--crash-retries", "1")
	var d server.DeploymentInfo
	if err := e.srv.Do(context.Background(), "GET", "/deployments/K8sPool/daily", nil, &d); err != nil || d.Timeout != 2*time.Second {
		t.Fatalf("the deployment's timeout: %v, %v", d.Timeout, err)
	}
	e.workerArgs = []string{"--deadline-margin", "1s"}
	e.startWorker(os.Getenv("KUBECONFIG"))
	id := e.newRun()
	job := e.waitJob(id)
	if job.Spec.ActiveDeadlineSeconds == nil || *job.Spec.ActiveDeadlineSeconds != 3 {
		t.Fatalf("activeDeadlineSeconds %v, want 3", job.Spec.ActiveDeadlineSeconds)
	}
	t0 := time.Now()
	r := e.waitState(id, runtime.Failed, 30*time.Second)
	t.Logf("failed %v after its job was seen: %s", time.Since(t0).Round(time.Millisecond), r.Message)
	want := fmt.Sprintf("flow run timed out: job %s/%s was stopped at its deadline, activeDeadlineSeconds 3 (the flow's timeout 2s + 1s (--deadline-margin))", e.ns, job.Name)
	if r.Message != want {
		t.Errorf("message %q\nwant %q", r.Message, want)
	}
	// Failed is final: no crash retry made another run, one Job.
	time.Sleep(1500 * time.Millisecond)
	var page server.RunList
	if err := e.srv.Do(context.Background(), "GET", server.Query("/runs", "deployment", "K8sPool/daily"), nil, &page); err != nil || len(page.Runs) != 1 {
		t.Errorf("%d runs, %v: want the one (a timed-out run is not retried)", len(page.Runs), err)
	}
	if r := e.run(id); r.State != runtime.Failed || len(e.jobs(id)) != 1 {
		t.Errorf("then %s, %d jobs", r.State, len(e.jobs(id)))
	}
}

// crashCase runs one run whose pod the test (or kwok) ends without the
// run's final state, and checks that the run is Crashed with the reason.
func crashCase(t *testing.T, labels map[string]string, mutate func(*batchv1.Job), act func(e *env, pod corev1.Pod), want string) {
	e := newEnv(t, labels, mutate)
	e.startWorker(os.Getenv("KUBECONFIG"))
	id := e.newRun()
	job := e.waitJob(id)
	if act != nil {
		act(e, e.waitPod(job.Name, func(*corev1.Pod) bool { return true }))
	}
	t0 := time.Now()
	r := e.waitState(id, runtime.Crashed, 15*time.Second)
	t.Logf("crashed %v after: %s", time.Since(t0).Round(time.Millisecond), r.Message)
	if !strings.Contains(r.Message, want) {
		t.Errorf("message %q, want %q", r.Message, want)
	}
	if n := len(e.jobs(id)); n > 1 {
		t.Errorf("%d jobs", n)
	}
}

func TestPoolPodFails(t *testing.T) {
	crashCase(t, map[string]string{"wfsh-test/fail": "true"}, func(j *batchv1.Job) {
		j.Spec.Template.Annotations = map[string]string{"wfsh-test/exit-code": "3"}
	}, nil, "exited with code 3")
}

// A pod that ends (kwok completes it at once) without its container
// having run wfsh: the run never reported, it Crashed.
func TestPoolPodEndsWithoutTheRun(t *testing.T) {
	crashCase(t, nil, nil, nil, "ended without the run's final state")
}

func TestPoolUnschedulable(t *testing.T) {
	crashCase(t, nil, func(j *batchv1.Job) {
		j.Spec.Template.Spec.NodeSelector = map[string]string{"no-such": "node"}
	}, func(e *env, pod corev1.Pod) {
		// The Job is deleted with the run.
		waitFor(e.t, 20*time.Second, "the job deleted", func() bool {
			_, err := admin.BatchV1().Jobs(e.ns).Get(context.Background(), pod.Labels["batch.kubernetes.io/job-name"], metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	}, "Unschedulable for over 2s (--start-timeout): 0/1 nodes are available")
}

// setPodStatus plays the kubelet: it writes a pod's status.
func setPodStatus(t *testing.T, ns, name string, st corev1.PodStatus) {
	p, err := admin.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Keep the pod's address: kwok starts a pod that has none.
	st.PodIP, st.PodIPs, st.HostIP, st.HostIPs, st.StartTime = p.Status.PodIP, p.Status.PodIPs, p.Status.HostIP, p.Status.HostIPs, p.Status.StartTime
	p.Status = st
	if _, err := admin.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestPoolImagePullFails(t *testing.T) {
	crashCase(t, map[string]string{"wfsh-test/hold": "true"}, nil, func(e *env, pod corev1.Pod) {
		pod = e.waitPod(pod.Labels["batch.kubernetes.io/job-name"], func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		setPodStatus(t, e.ns, pod.Name, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "wfsh", Image: "registry.test/wfsh:v1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.test/wfsh:v1"`}}}}})
	}, "ImagePullBackOff for over 2s (--start-timeout): container wfsh: Back-off pulling image")
}

func TestPoolOOMKilled(t *testing.T) {
	crashCase(t, map[string]string{"wfsh-test/hold": "true"}, nil, func(e *env, pod corev1.Pod) {
		pod = e.waitPod(pod.Labels["batch.kubernetes.io/job-name"], func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		setPodStatus(t, e.ns, pod.Name, corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "wfsh", Image: "registry.test/wfsh:v1",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}})
	}, "OOMKilled (exit code 137)")
}

func TestPoolEvicted(t *testing.T) {
	crashCase(t, map[string]string{"wfsh-test/hold": "true"}, nil, func(e *env, pod corev1.Pod) {
		pod = e.waitPod(pod.Labels["batch.kubernetes.io/job-name"], func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		setPodStatus(t, e.ns, pod.Name, corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."})
	}, "evicted: The node was low on resource: memory.")
}

func TestPoolCancelDeletesTheJob(t *testing.T) {
	e := newEnv(t, map[string]string{"wfsh-test/hold": "true"}, nil)
	e.startWorker(os.Getenv("KUBECONFIG"))
	id := e.newRun()
	job := e.waitJob(id)
	e.waitPod(job.Name, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	t0 := time.Now()
	e.wfsh(e.srv.Token, "cancel", id)
	defer func() { t.Logf("cancel to Cancelled: %v", time.Since(t0)) }()
	waitFor(t, 15*time.Second, "the job and its pod deleted", func() bool {
		_, err := admin.BatchV1().Jobs(e.ns).Get(context.Background(), job.Name, metav1.GetOptions{})
		l, _ := admin.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
		return apierrors.IsNotFound(err) && l != nil && len(l.Items) == 0
	})
	e.waitState(id, runtime.Cancelled, 15*time.Second)
}

// TestPoolWorkerKilledBeforeTheJob: the worker is killed (-9) after it
// claimed the run and before its Job exists (its create is held by a
// proxy in front of the API server); the run is claimed again by another
// worker and still gets exactly one Job. Then the same with the kill
// after the Job was made (its Secret held): the second worker finds the
// Job and follows it.
func TestPoolWorkerKilledBeforeTheJob(t *testing.T) {
	for _, held := range []string{"jobs", "secrets", "none"} {
		t.Run(held, func(t *testing.T) {
			e := newEnv(t, map[string]string{"wfsh-test/hold": "true"}, nil)
			p := newHoldingProxy(t, "/"+held)
			w := e.startWorker(p.kubeconfig)
			id := e.newRun()
			if held == "none" {
				// Killed once the Job and its Secret exist, before the pod
				// reported: the next worker must give the pod its own id.
				waitFor(t, 20*time.Second, "the run's secret", func() bool {
					_, err := admin.CoreV1().Secrets(e.ns).Get(context.Background(), k8spool.JobName(id, 0), metav1.GetOptions{})
					return err == nil
				})
			} else {
				select {
				case <-p.held:
				case <-time.After(20 * time.Second):
					t.Fatal("the worker made no " + held)
				}
			}
			if r := e.run(id); r.State != runtime.Pending {
				t.Fatalf("run %s", r.State)
			}
			syscall.Kill(w.Process.Pid, syscall.SIGKILL)
			w.Wait()
			if held == "jobs" && len(e.jobs(id)) != 0 {
				t.Fatal("a job before the create was let through")
			}
			e.startWorker(os.Getenv("KUBECONFIG"))
			job := e.waitJob(id)
			pod := e.waitPod(job.Name, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
			// The second worker claims the run once its lease lapses (2 s),
			// finds the Job (secrets, none: the first worker's) and makes
			// or updates the Secret the pod's kubelet waits for.
			waitFor(t, 20*time.Second, "the run's secret, with the worker holding the run", func() bool {
				s, err := admin.CoreV1().Secrets(e.ns).Get(context.Background(), job.Name, metav1.GetOptions{})
				r := e.run(id)
				return err == nil && r.Server != nil && r.Server.Worker != "" && string(s.Data[k8spool.WorkerKey]) == r.Server.Worker &&
					(held == "jobs" || r.Server.Worker != job.Annotations[k8spool.AnnoWorker])
			})
			out, code := e.playContainer(job)
			if code != 0 {
				t.Fatalf("container exited %d:\n%s", code, out)
			}
			patchLabels(t, e.ns, pod.Name, `{"metadata":{"labels":{"wfsh-test/hold":null}}}`)
			e.waitState(id, runtime.Success, 15*time.Second)
			if n := len(e.jobs(id)); n != 1 {
				t.Errorf("%d jobs", n)
			}
		})
	}
}

// holdingProxy forwards to the API server, but holds (never forwards)
// the first POST whose path ends in suffix.
type holdingProxy struct {
	kubeconfig string
	held       chan struct{}
}

func newHoldingProxy(t *testing.T, suffix string) *holdingProxy {
	cfg, err := clientcmd.LoadFromFile(os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	cl := cfg.Clusters[kctx.Cluster]
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(cl.Server)
	rp := httputil.NewSingleHostReverseProxy(target)
	tr, err := restTransport(rc)
	if err != nil {
		t.Fatal(err)
	}
	rp.Transport = tr
	rp.FlushInterval = -1
	p := &holdingProxy{held: make(chan struct{})}
	var once sync.Once
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, suffix) {
			first := false
			once.Do(func() { first = true })
			if first {
				close(p.held)
				<-r.Context().Done() // until the worker dies
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// A kubeconfig of the proxy: plain HTTP on loopback, the proxy
	// authenticates upstream as the admin.
	k := clientcmdapi.NewConfig()
	k.Clusters["proxy"] = &clientcmdapi.Cluster{Server: "http://" + ln.Addr().String()}
	k.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	k.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	k.CurrentContext = "proxy"
	p.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*k, p.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return p
}

func patchLabels(t *testing.T, ns, pod, patch string) {
	t.Helper()
	if _, err := admin.CoreV1().Pods(ns).Patch(context.Background(), pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func restTransport(c *rest.Config) (http.RoundTripper, error) { return rest.TransportFor(c) }

// BenchmarkPoolJobs: 200 runs an iteration (b.N x 200 in all) made at once (8 POSTs in flight) on a pool
// served by one worker with more slots than runs (creation is
// measured, not slot turnover). It reports Jobs made a second; the
// latency from a run made (its POST answered) to its Job seen by a watch;
// from the worker's claim to its Job made (the worker's own log line);
// from the Job seen to the run's final state on the server; p50 and p99
// of each; and the worker's peak RSS (VmHWM). kwok completes the pods at
// once (no container runs: the runs then Crash, "ended without the run's
// final state", which is the state the worker reports).
//
//	make k8s-bins && scripts/k8s/controlplane.sh run -- env WFSH_BIN_DIR=$PWD/bin \
//	    go test -tags k8s_integration -run '^$' -bench PoolJobs -benchtime 1x -count 3 ./k8spool/
func BenchmarkPoolJobs(b *testing.B) {
	n := 200 * b.N
	e := newEnv(b, nil, nil)
	ctx := context.Background()
	wt, err := admin.BatchV1().Jobs(e.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { wt.Stop() }()
	worker := e.startWorkerSlots(os.Getenv("KUBECONFIG"), max(256, n))
	time.Sleep(time.Second) // the worker's caches synced, its first claim waiting
	made := make(map[string]time.Time, n)
	var mu sync.Mutex
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var r store.Run
			if err := e.srv.Do(ctx, "POST", "/deployments/K8sPool/daily/runs", server.RunRequest{}, &r); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			made[r.ID] = time.Now()
			mu.Unlock()
		}()
	}
	seen := map[string]time.Time{}
	rewatches := 0
	timeout := time.After(5 * time.Minute)
	for len(seen) < n {
		select {
		case ev, open := <-wt.ResultChan():
			if !open {
				// The API server closes a watch that falls behind (a
				// burst of 200 Jobs' changes on a loaded machine): list
				// what it missed, counted as seen now (late, not lost),
				// and watch again from there.
				l, err := admin.BatchV1().Jobs(e.ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for _, j := range l.Items {
					if _, ok := seen[j.Labels[k8spool.LabelRun]]; !ok {
						seen[j.Labels[k8spool.LabelRun]] = time.Now()
					}
				}
				rewatches++
				if wt, err = admin.BatchV1().Jobs(e.ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion}); err != nil {
					b.Fatal(err)
				}
				continue
			}
			if j, ok := ev.Object.(*batchv1.Job); ok && ev.Type == "ADDED" {
				seen[j.Labels[k8spool.LabelRun]] = time.Now()
			}
		case <-timeout:
			b.Fatalf("%d jobs of %d", len(seen), n)
		}
	}
	elapsed := time.Since(t0)
	wg.Wait()
	// Every run final on the server.
	var toState []time.Duration
	for id, at := range seen {
		var r store.Run
		waitFor(b, time.Minute, "run "+id+" final", func() bool { r = e.run(id); return r.State.Finished() })
		toState = append(toState, max(r.FinishedAt.Sub(at), 0))
	}
	b.StopTimer()
	rss := peakRSS(b, worker.Process.Pid)
	var toJob []time.Duration
	for id, at := range seen {
		if m, ok := made[id]; ok {
			toJob = append(toJob, max(at.Sub(m), 0))
		}
	}
	claimToJob := claimLatencies(b, e.workerOut.String(), n)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "jobs/s")
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"run-job", toJob}, {"claim-job", claimToJob}, {"job-state", toState}} {
		sortDurations(m.d)
		b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds())/1000, m.name+"-p50-ms")
		b.ReportMetric(float64(m.d[len(m.d)*99/100].Microseconds())/1000, m.name+"-p99-ms")
	}
	b.ReportMetric(float64(rss)/(1<<20), "worker-peak-MB")
	b.ReportMetric(float64(rewatches), "rewatches")
}

// claimLatencies reads "job NS/NAME created D after the claim" from the
// worker's log, one a run.
func claimLatencies(b *testing.B, log string, n int) []time.Duration {
	var out []time.Duration
	for _, m := range regexp.MustCompile(`job \S+ created (\S+) after the claim`).FindAllStringSubmatch(log, -1) {
		d, err := time.ParseDuration(m[1])
		if err != nil {
			b.Fatalf("%q: %v", m[0], err)
		}
		out = append(out, d)
	}
	if len(out) != n {
		b.Fatalf("%d jobs made in the worker's log, want %d", len(out), n)
	}
	return out
}

// peakRSS is a process's resident high-water mark (VmHWM), in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		b.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
