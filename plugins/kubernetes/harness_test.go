//go:build k8s_integration

package kubernetes

// The harness of the integration tests: a real control plane started by
// scripts/k8s/controlplane.sh (`make test-k8s`), which passes its state
// directory in WFSH_K8S_DIR and an admin kubeconfig in KUBECONFIG. The
// tests use the admin client to set up and to look; the plugin itself
// always runs under the service account wfsh-runner, bound to exactly the
// Role of deploy/role.yaml.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	authv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// Namespaces of the tests: kwok serves the pods of wfsh-stream and
// wfsh-flowrun from log files the tests write (see controlplane.sh).
const (
	nsTest    = "wfsh-test"
	nsStream  = "wfsh-stream"
	nsFlowRun = "wfsh-flowrun"
	nsRBAC    = "wfsh-rbac"
	runnerSA  = "wfsh-runner"
)

var cluster struct {
	dir          string // the control plane's state directory
	script       string // controlplane.sh
	admin        k8s.Interface
	apiPort      string
	binDir       string // wfsh and wfsh-plugin-kubernetes, built by make
	pluginDir    string // wfsh-plugin-kubernetes: this test binary
	runnerConfig string // kubeconfig of wfsh-runner (context runner) and the Role's variants
	role         *rbacv1.Role
	variants     []roleVariant
}

// roleVariant is deploy/role.yaml without one verb, bound to a service
// account of its own in wfsh-rbac (kubeconfig context = name).
type roleVariant struct {
	name, resource, verb string
}

func TestMain(m *testing.M) {
	// Started by the plugin host (go-plugin sets the cookie): serve
	// @kubernetes, as wfsh-plugin-kubernetes does.
	if os.Getenv(sdk.Handshake.MagicCookieKey) == sdk.Handshake.MagicCookieValue {
		Main()
		os.Exit(0)
	}
	if err := setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "k8s integration tests:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func setUp() error {
	cluster.dir = os.Getenv("WFSH_K8S_DIR")
	cluster.script = os.Getenv("WFSH_K8S_CONTROLPLANE")
	cluster.binDir = os.Getenv("WFSH_BIN_DIR")
	if cluster.dir == "" || cluster.script == "" || cluster.binDir == "" || os.Getenv("KUBECONFIG") == "" {
		return fmt.Errorf("they need a control plane: run them with `make test-k8s` (WFSH_K8S_DIR, WFSH_K8S_CONTROLPLANE, WFSH_BIN_DIR and KUBECONFIG unset)")
	}
	port, err := os.ReadFile(filepath.Join(cluster.dir, "ports", "apiserver"))
	if err != nil {
		return err
	}
	cluster.apiPort = strings.TrimSpace(string(port))
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	if cluster.admin, err = k8s.NewForConfig(cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if cluster.role, err = readRole(); err != nil {
		return err
	}
	if err := setUpRBAC(ctx); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cluster.pluginDir, err = os.MkdirTemp(cluster.dir, "plugin") // removed with the state directory
	if err != nil {
		return err
	}
	if err := os.Symlink(exe, filepath.Join(cluster.pluginDir, host.Prefix+"kubernetes")); err != nil {
		return err
	}
	// From here on, every process the tests start (plugins, wfsh) talks
	// to the API server as wfsh-runner.
	return os.Setenv("KUBECONFIG", cluster.runnerConfig)
}

func readRole() (*rbacv1.Role, error) {
	b, err := os.ReadFile("../../deploy/role.yaml")
	if err != nil {
		return nil, err
	}
	var r rbacv1.Role
	if err := yaml.UnmarshalStrict(b, &r); err != nil {
		return nil, fmt.Errorf("deploy/role.yaml: %v", err)
	}
	return &r, nil
}

// setUpRBAC makes the namespaces, the service account wfsh-runner (in
// wfsh-test, with the Role bound in each namespace the tests use; also one
// in wfsh-flowrun for the flow run's pod), the variants of the Role, and a
// kubeconfig with a token for each.
func setUpRBAC(ctx context.Context) error {
	a := cluster.admin
	for _, ns := range []string{nsTest, nsStream, nsFlowRun, nsRBAC} {
		if _, err := a.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	subject := func(ns, name string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}}
	}
	for _, ns := range []string{nsTest, nsFlowRun} {
		if err := createSA(ctx, ns, runnerSA); err != nil {
			return err
		}
	}
	for _, ns := range []string{nsTest, nsStream, nsFlowRun} {
		if err := bindRole(ctx, ns, cluster.role, subject(nsTest, runnerSA)); err != nil {
			return err
		}
	}
	if err := bindRole(ctx, nsFlowRun, withName(cluster.role, "wfsh-runner-pod"), subject(nsFlowRun, runnerSA)); err != nil {
		return err
	}
	contexts := map[string]string{}
	tok, err := token(ctx, nsTest, runnerSA)
	if err != nil {
		return err
	}
	contexts["runner"] = tok
	for i, rule := range cluster.role.Rules {
		for j, verb := range rule.Verbs {
			v := roleVariant{name: fmt.Sprintf("minus-%s-%s", strings.ReplaceAll(rule.Resources[0], "/", "-"), verb), resource: rule.Resources[0], verb: verb}
			r := withName(cluster.role, v.name)
			r.Rules[i].Verbs = append(append([]string(nil), rule.Verbs[:j]...), rule.Verbs[j+1:]...)
			if len(r.Rules[i].Verbs) == 0 {
				r.Rules = append(r.Rules[:i], r.Rules[i+1:]...)
			}
			if err := createSA(ctx, nsRBAC, v.name); err != nil {
				return err
			}
			if err := bindRole(ctx, nsRBAC, r, subject(nsRBAC, v.name)); err != nil {
				return err
			}
			if contexts[v.name], err = token(ctx, nsRBAC, v.name); err != nil {
				return err
			}
			cluster.variants = append(cluster.variants, v)
		}
	}
	if err := bindRole(ctx, nsRBAC, withName(cluster.role, "full"), subject(nsRBAC, "full")); err != nil {
		return err
	}
	if err := createSA(ctx, nsRBAC, "full"); err != nil {
		return err
	}
	if contexts["full"], err = token(ctx, nsRBAC, "full"); err != nil {
		return err
	}
	cluster.runnerConfig = filepath.Join(cluster.dir, "kubeconfig-runner")
	return writeKubeconfig(cluster.runnerConfig, contexts)
}

func withName(r *rbacv1.Role, name string) *rbacv1.Role {
	c := r.DeepCopy()
	c.Name = name
	return c
}

func createSA(ctx context.Context, ns, name string) error {
	_, err := cluster.admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}

func bindRole(ctx context.Context, ns string, r *rbacv1.Role, subjects []rbacv1.Subject) error {
	r = r.DeepCopy()
	r.Namespace = ns
	if _, err := cluster.admin.RbacV1().Roles(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name + "-" + subjects[0].Namespace + "-" + subjects[0].Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: r.Name},
		Subjects:   subjects,
	}
	_, err := cluster.admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{})
	return err
}

func token(ctx context.Context, ns, sa string) (string, error) {
	hour := int64(3600)
	tr, err := cluster.admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token, nil
}

func writeKubeconfig(path string, tokens map[string]string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\ncurrent-context: runner\nclusters:\n- name: local\n  cluster:\n    server: https://127.0.0.1:%s\n    certificate-authority: %s\n",
		cluster.apiPort, filepath.Join(cluster.dir, "pki", "ca.crt"))
	b.WriteString("users:\n")
	for name, tok := range tokens {
		fmt.Fprintf(&b, "- name: %s\n  user:\n    token: %s\n", name, tok)
	}
	b.WriteString("contexts:\n")
	for name := range tokens {
		ns := nsRBAC
		if name == "runner" {
			ns = nsTest
		}
		fmt.Fprintf(&b, "- name: %s\n  context: {cluster: local, user: %s, namespace: %s}\n", name, name, ns)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// --- calling the plugin --------------------------------------------------

// newHost is a plugin host that finds @kubernetes served by this test
// binary; it stops the plugin when the test ends.
func newHost(t *testing.T) *host.Manager {
	t.Helper()
	m := host.NewManager(host.Options{Dirs: []string{cluster.pluginDir}}, nil, hclog.Off)
	t.Cleanup(m.Stop)
	return m
}

// callLines are the log lines of a call, as "LEVEL text".
type callLines struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func newCallLines() *callLines { return &callLines{added: make(chan struct{}, 1)} }

func (c *callLines) add(l *pb.LogLine) {
	c.mu.Lock()
	c.lines = append(c.lines, l.GetLevel().String()+" "+l.GetText())
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
}

func (c *callLines) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// count is how many lines are exactly line.
func (c *callLines) count(line string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if l == line {
			n++
		}
	}
	return n
}

// waitFor waits until a line is exactly line.
func (c *callLines) waitFor(t *testing.T, line string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for c.count(line) == 0 {
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("no line %q within %v; lines:\n%s", line, d, c)
		}
	}
}

// call calls a function of @kubernetes as task run taskRun of flow run
// flowRun.
func call(ctx context.Context, m *host.Manager, fn, flowRun, taskRun string, args map[string]any, lines *callLines) (any, error) {
	var entries []*pb.Entry
	for k, v := range args {
		w, err := sdk.Encode(v)
		if err != nil {
			return nil, err
		}
		key, _ := sdk.Encode(k)
		entries = append(entries, &pb.Entry{Key: key, Value: w})
	}
	req := &pb.CallRequest{Function: fn, Args: entries, FlowRunId: flowRun, TaskRun: taskRun}
	v, err := m.Call(ctx, "kubernetes", req, lines.add)
	if err != nil {
		return nil, err
	}
	return sdk.Decode(v)
}

// --- manifests and cluster state -----------------------------------------

// jobBody is a Job manifest as a flow passes it: a dict. Pod labels and
// annotations steer kwok (controlplane.sh): wfsh-test/hold, wfsh-test/fail,
// wfsh-test/exit-code, wfsh-test/duration.
func jobBody(t *testing.T, podLabels, podAnnotations map[string]string, backoffLimit int) map[string]any {
	t.Helper()
	tmpl := map[string]any{"labels": map[string]any{}, "annotations": map[string]any{}}
	for k, v := range podLabels {
		tmpl["labels"].(map[string]any)[k] = v
	}
	for k, v := range podAnnotations {
		tmpl["annotations"].(map[string]any)[k] = v
	}
	return map[string]any{
		"apiVersion": "batch/v1",
		"kind":       "Job",
		"metadata":   map[string]any{"name": "load-stations"},
		"spec": map[string]any{
			"backoffLimit": int64(backoffLimit),
			"template": map[string]any{
				"metadata": tmpl,
				"spec": map[string]any{
					"restartPolicy": "Never",
					"containers": []any{map[string]any{
						"name": "embulk", "image": "embulk-bikeshare:latest",
						"env": []any{map[string]any{"name": "DATE", "value": "20201130"}},
					}},
				},
			},
		},
	}
}

func randomID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// eventually runs check until it returns nil, at most d.
func eventually(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jobsOf lists the Jobs of a flow run.
func jobsOf(t *testing.T, ns, flowRun string) []batchv1.Job {
	t.Helper()
	l, err := cluster.admin.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: LabelFlowRun + "=" + flowRun})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// runningPod waits for the Running pod of a flow run's Job.
func runningPod(t *testing.T, ns, selector string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 60*time.Second, "a running pod "+selector, func() error {
		l, err := cluster.admin.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for i := range l.Items {
			if l.Items[i].Status.Phase == corev1.PodRunning {
				pod = &l.Items[i]
				return nil
			}
		}
		return fmt.Errorf("%d pods, none running", len(l.Items))
	})
	return pod
}

// patchPod changes a pod's labels and annotations (nil removes one): how
// the tests tell kwok to end a held pod.
func patchPod(t *testing.T, ns, name string, labels, annotations map[string]any) {
	t.Helper()
	meta := map[string]any{}
	if labels != nil {
		meta["labels"] = labels
	}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	b, _ := yaml.Marshal(map[string]any{"metadata": meta})
	j, _ := yaml.YAMLToJSON(b)
	if _, err := cluster.admin.CoreV1().Pods(ns).Patch(context.Background(), name, types.MergePatchType, j, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// release lets a held pod complete.
func release(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	patchPod(t, pod.Namespace, pod.Name, map[string]any{"wfsh-test/hold": nil}, nil)
}

// goneJobs waits until no Job and no pod of the flow run is left.
func goneJobs(t *testing.T, ns, flowRun string) {
	t.Helper()
	eventually(t, 60*time.Second, "the Jobs and pods of "+flowRun+" deleted", func() error {
		sel := metav1.ListOptions{LabelSelector: LabelFlowRun + "=" + flowRun}
		jobs, err := cluster.admin.BatchV1().Jobs(ns).List(context.Background(), sel)
		if err != nil {
			return err
		}
		pods, err := cluster.admin.CoreV1().Pods(ns).List(context.Background(), sel)
		if err != nil {
			return err
		}
		if n := len(jobs.Items) + len(pods.Items); n > 0 {
			return fmt.Errorf("%d jobs, %d pods left", len(jobs.Items), len(pods.Items))
		}
		return nil
	})
}

// appendLog appends lines to the log file kwok serves for a namespace's
// pods, in the CRI format, stamped now.
func appendLog(t *testing.T, ns string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(cluster.dir, "logs", ns+".log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	for _, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", time.Now().UTC().Format(time.RFC3339Nano), l)
		time.Sleep(time.Microsecond) // distinct stamps
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func truncateLog(t *testing.T, ns string) {
	t.Helper()
	if err := os.Truncate(filepath.Join(cluster.dir, "logs", ns+".log"), 0); err != nil {
		t.Fatal(err)
	}
}

// --- wfsh ------------------------------------------------------------------

// wfshRun is a wfsh process of the tests.
type wfshRun struct {
	cmd            *exec.Cmd
	stdout, stderr proctest.Buffer
	done           chan struct{}
	code           int
}

// startWfsh starts bin/wfsh (it finds wfsh-plugin-kubernetes beside it) in
// dir, as wfsh-runner.
func startWfsh(t *testing.T, dir string, args ...string) *wfshRun {
	t.Helper()
	return startWfshEnv(t, dir, nil, args...)
}

// startWfshEnv is startWfsh with env added to the test's environment.
func startWfshEnv(t *testing.T, dir string, env []string, args ...string) *wfshRun {
	t.Helper()
	w := &wfshRun{cmd: exec.Command(filepath.Join(cluster.binDir, "wfsh"), args...), done: make(chan struct{})}
	w.cmd.Dir = dir
	if env != nil {
		w.cmd.Env = append(os.Environ(), env...)
	}
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := w.cmd.Wait()
		w.code = w.cmd.ProcessState.ExitCode()
		if err != nil && w.code < 0 {
			w.code = -1
		}
		close(w.done)
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

func (w *wfshRun) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-w.done:
		return w.code
	case <-time.After(d):
		_ = w.cmd.Process.Kill()
		<-w.done
		t.Fatalf("wfsh %s did not end within %v\nstdout:\n%s\nstderr:\n%s", strings.Join(w.cmd.Args[1:], " "), d, w.stdout.String(), w.stderr.String())
		return -1
	}
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
