//go:build k8s_integration

package helm

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/wfsh/wfsh/internal/proctest"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// kwok runs no container, and the tier runs no Deployment controller:
// playPods plays the kubelet for the installed release's server and
// worker instead. It runs each container's own arguments and environment
// (Secrets and the downward API resolved, $(VAR) expanded) as a local
// process with the real wfsh, its volumes as directories (Secrets and
// ConfigMaps written out), the Service's address as 127.0.0.1, and the
// worker authenticated as its ServiceAccount (a token from the API
// server): the seed's `wfsh deploy ... --pool k8s` then makes a Job in
// the pool's namespace, through the chart's Role. pgAddr, if not "",
// plays the in-chart PostgreSQL's Service (playPostgres).
func playPods(t *testing.T, ns, jobNS, pgAddr string) {
	bin := os.Getenv("WFSH_BIN_DIR")
	if bin == "" {
		t.Fatal("WFSH_BIN_DIR: the directory of wfsh and wfsh-worker-kubernetes (make test-k8s builds them)")
	}
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// What the cluster's DNS and Service do: the server's URL is here.
	svc := regexp.MustCompile(`(0\.0\.0\.0|wfsh\.` + regexp.QuoteMeta(ns) + `\.svc):4200`)
	local := func(s string) string {
		if pgAddr != "" {
			s = strings.ReplaceAll(s, "@wfsh-postgresql:5432/", "@"+pgAddr+"/")
		}
		return svc.ReplaceAllString(s, addr)
	}

	d, err := kube.AppsV1().Deployments(ns).Get(ctx, "wfsh", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := newPlayedPod(t, ns, "wfsh-0", &d.Spec.Template.Spec, local, bin)
	pod.run(t, d.Spec.Template.Spec.InitContainers[0], nil).wait(t, 30*time.Second)
	pod.run(t, d.Spec.Template.Spec.Containers[0], nil)
	adminTok := string(secrets(t, ns)["wfsh-auth"]["admin-token"])
	admin := &server.Client{Base: "http://" + addr, Token: adminTok}
	waitFor(t, 20*time.Second, "the server", func() bool { return admin.Do(ctx, "GET", "/pools", nil, nil) == nil })
	// The pool's job variables are the chart's (workers[].jobVariables).
	var pool store.Pool
	if err := admin.Do(ctx, "GET", "/pools/k8s", nil, &pool); err != nil || !slices.Equal(pool.JobVariables, []string{"image", "resources"}) {
		t.Errorf("pool k8s: job variables %q, %v; want the chart's image, resources", pool.JobVariables, err)
	}
	// Its base Job template is the chart's too (the worker's ConfigMap,
	// projected into the server's pod), as `wfsh pool show` shows it.
	var tmpl batchv1.Job
	if err := json.Unmarshal(pool.JobTemplate, &tmpl); err != nil {
		t.Errorf("pool k8s: job template %s: %v", pool.JobTemplate, err)
	} else if tmpl.Namespace != jobNS || len(tmpl.Spec.Template.Spec.Containers) == 0 || !strings.HasPrefix(tmpl.Spec.Template.Spec.Containers[0].Image, "registry.example/wfsh:") {
		t.Errorf("pool k8s: job template in %q with %+v, want the chart's (in %s, its image)", tmpl.Namespace, tmpl.Spec.Template.Spec.Containers, jobNS)
	}

	w, err := kube.AppsV1().Deployments(ns).Get(ctx, "wfsh-worker-k8s", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wp := newPlayedPod(t, ns, "wfsh-worker-k8s-0", &w.Spec.Template.Spec, local, bin)
	wp.run(t, w.Spec.Template.Spec.Containers[0], []string{"KUBECONFIG=" + saKubeconfig(t, ns, w.Spec.Template.Spec.ServiceAccountName)})

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.star"), []byte("@flow(name=\"Hello\")\ndef hello():\n    print(\"hello\")\n"), 0o644)
	for _, args := range [][]string{{"deploy", filepath.Join(dir, "hello.star"), "--name", "daily", "--pool", "k8s", "--job-var", "image=registry.example/wfsh:daily"}, {"run", "Hello/daily"}} {
		cmd := exec.Command(filepath.Join(bin, "wfsh"), args...)
		cmd.Env = append(os.Environ(), "WFSH_HOME="+t.TempDir(), "WFSH_SERVER="+admin.Base, "WFSH_TOKEN="+adminTok)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("wfsh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	waitFor(t, 60*time.Second, "the run's Job in "+jobNS, func() bool {
		l, err := kube.BatchV1().Jobs(jobNS).List(ctx, metav1.ListOptions{LabelSelector: "wfsh/pool=k8s"})
		if err != nil || len(l.Items) != 1 {
			return false
		}
		c := l.Items[0].Spec.Template.Spec.Containers[0]
		if c.Image != "registry.example/wfsh:daily" {
			t.Errorf("the Job's image %q, want the deployment's job variable's", c.Image)
		}
		return true
	})
}

type playedPod struct {
	name  string
	env   map[string]string // from the downward API
	dirs  map[string]string // mountPath -> directory
	local func(string) string
	bin   string
	spec  *corev1.PodSpec
	ns    string
}

func newPlayedPod(t *testing.T, ns, name string, spec *corev1.PodSpec, local func(string) string, bin string) *playedPod {
	t.Helper()
	p := &playedPod{name: name, dirs: map[string]string{}, local: local, bin: bin, spec: spec, ns: ns}
	vols := map[string]string{}
	for _, v := range spec.Volumes {
		dir := t.TempDir()
		vols[v.Name] = dir
		var data map[string][]byte
		switch {
		case v.Secret != nil:
			s, err := kube.CoreV1().Secrets(ns).Get(context.Background(), v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			data = s.Data
		case v.ConfigMap != nil:
			cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			data = map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
		case v.Projected != nil:
			// ConfigMaps' keys, each at its item's path
			data = map[string][]byte{}
			for _, src := range v.Projected.Sources {
				if src.ConfigMap == nil {
					t.Fatalf("volume %s: a projected source other than a ConfigMap: %+v", v.Name, src)
				}
				cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), src.ConfigMap.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range src.ConfigMap.Items {
					data[it.Path] = []byte(cm.Data[it.Key])
				}
			}
		}
		for k, b := range data {
			if err := os.WriteFile(filepath.Join(dir, k), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, m := range c.VolumeMounts {
			p.dirs[m.MountPath] = vols[m.Name]
		}
	}
	return p
}

// path maps a path in the container (a value, or the value of a
// --flag=value) to the directory playing its mount, the longest mount
// that holds it.
func (p *playedPod) path(s string) string {
	flag, v := "", s
	if f, val, ok := strings.Cut(s, "="); ok && strings.HasPrefix(f, "--") {
		flag, v = f+"=", val
	}
	best := ""
	for mount := range p.dirs {
		if (v == mount || strings.HasPrefix(v, mount+"/")) && len(mount) > len(best) {
			best = mount
		}
	}
	if best != "" {
		v = p.dirs[best] + strings.TrimPrefix(v, best)
	}
	return p.local(flag + v)
}

var ref = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

type process struct {
	cmd  *exec.Cmd
	out  *proctest.Buffer
	done chan error
}

// run starts container c as the kubelet would: its environment resolved
// in order, $(VAR) expanded in it and in the arguments.
func (p *playedPod) run(t *testing.T, c corev1.Container, extra []string) *process {
	t.Helper()
	env, list := resolveEnv(t, p.ns, p.name, c, p.path)
	var args []string
	for _, a := range c.Args {
		args = append(args, p.path(ref.ReplaceAllStringFunc(a, func(m string) string { return env[m[2:len(m)-1]] })))
	}
	if !strings.HasPrefix(c.Image, "registry.example/wfsh:") {
		t.Fatalf("container %s: image %q, not the chart's", c.Name, c.Image)
	}
	cmd := exec.Command(filepath.Join(p.bin, "wfsh"), args...)
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH")}, list...), extra...)
	pr := &process{cmd: cmd, out: &proctest.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = pr.out, pr.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { pr.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-pr.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s/%s (%s):\n%s", p.name, c.Name, strings.Join(args, " "), pr.out.String())
		}
	})
	return pr
}

// resolveEnv is a container's environment as the kubelet makes it, in
// order: Secrets and the pod's name (the downward API) resolved, $(VAR)
// expanded, each value then given to mapv; as a map and as a list.
func resolveEnv(t *testing.T, ns, pod string, c corev1.Container, mapv func(string) string) (map[string]string, []string) {
	t.Helper()
	env := map[string]string{}
	var list []string
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			s, err := kube.CoreV1().Secrets(ns).Get(context.Background(), e.ValueFrom.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			v = string(s.Data[e.ValueFrom.SecretKeyRef.Key])
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v = pod
		}
		v = mapv(ref.ReplaceAllStringFunc(v, func(m string) string { return env[m[2:len(m)-1]] }))
		env[e.Name] = v
		list = append(list, e.Name+"="+v)
	}
	return env, list
}

// podEnv is a container's environment, resolved (resolveEnv).
func podEnv(t *testing.T, ns, pod string, c corev1.Container) map[string]string {
	env, _ := resolveEnv(t, ns, pod, c, func(s string) string { return s })
	return env
}

// wait waits for a container that ends (the init container): exit 0.
func (pr *process) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-pr.done:
		if err != nil {
			t.Fatalf("%v: %v\n%s", pr.cmd.Args, err, pr.out.String())
		}
	case <-time.After(d):
		t.Fatalf("%v did not end in %s", pr.cmd.Args, d)
	}
}

// saKubeconfig is a kubeconfig that authenticates as service account sa
// of ns, with a token the API server issues (what a pod mounts).
func saKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: restCfg.Host, CertificateAuthorityData: restCfg.CAData, CertificateAuthority: restCfg.CAFile}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "sa", Namespace: ns}
	cfg.CurrentContext = "c"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
