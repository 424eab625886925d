//go:build k8s_integration

package helm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

const chartDir = "wfsh"

var (
	restCfg *rest.Config
	kube    k8s.Interface
	dyn     dynamic.Interface
	mapper  meta.RESTMapper
	// run tells this run's namespaces from those of a run before on the
	// same control plane (still being deleted).
	run = fmt.Sprintf("%04x", rand.IntN(1<<16))
)

func TestMain(m *testing.M) {
	var err error
	restCfg, err = clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil || os.Getenv("KUBECONFIG") == "" {
		fmt.Fprintln(os.Stderr, "chart tests: need KUBECONFIG, a control plane (make test-k8s):", err)
		os.Exit(1)
	}
	kube = k8s.NewForConfigOrDie(restCfg)
	dyn = dynamic.NewForConfigOrDie(restCfg)
	dc := discovery.NewDiscoveryClientForConfigOrDie(restCfg)
	mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	os.Exit(m.Run())
}

// valueSets are the chart's configurations under test; {NS} is replaced
// by the test's namespace prefix.
var valueSets = map[string]string{
	"sqlite": `
image: {repository: registry.example/wfsh, tag: v1}
workers:
- {pool: k8s, namespace: "{NS}-etl"}
`,
	"postgresql": `
image: {repository: registry.example/wfsh, tag: v1}
server: {replicas: 2}
database: {type: postgresql}
workers:
- {pool: k8s, namespace: "{NS}-etl"}
`,
	"external": `
image: {repository: registry.example/wfsh, tag: v1}
server: {replicas: 3}
database:
  type: external
  external: {existingSecret: wfsh-db, key: url}
`,
	"two-pools": `
image: {repository: registry.example/wfsh, tag: v1}
workers:
- pool: etl
  namespace: "{NS}-etl"
  slots: 20
  jobVariables: [image, env]
- pool: gpu
  namespace: "{NS}-gpu"
  startTimeout: 5m
  jobTemplate:
    spec:
      activeDeadlineSeconds: 3600
      template:
        spec:
          nodeSelector: {accelerator: nvidia}
          containers:
          - name: wfsh
            resources: {limits: {nvidia.com/gpu: "1", memory: 8Gi}}
`,
}

func values(t *testing.T, set, ns string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValues([]byte(strings.ReplaceAll(valueSets[set], "{NS}", ns)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestChartLint: helm lint, strict (warnings fail too), of every value
// set, and of the defaults.
func TestChartLint(t *testing.T) {
	sets := []string{""}
	for s := range valueSets {
		sets = append(sets, s)
	}
	slices.Sort(sets)
	for _, s := range sets {
		l := action.NewLint()
		l.Strict = true
		l.Namespace = "wfsh"
		l.KubeVersion = kubeVersion(t) // the SDK's own default is 1.20
		var vals map[string]any
		if s != "" {
			vals = values(t, s, "lint")
		}
		res := l.Run([]string{chartDir}, vals)
		for _, m := range res.Messages {
			if m.Severity >= support.InfoSev {
				t.Logf("lint %q: %s", s, m)
			}
			if m.Severity >= support.WarningSev {
				t.Errorf("lint %q: %s", s, m)
			}
		}
		for _, err := range res.Errors {
			t.Errorf("lint %q: %v", s, err)
		}
	}
}

// render renders the chart as `helm install --dry-run` would, without a
// cluster: the manifests, then the hooks'.
func render(t *testing.T, ns string, vals map[string]any) (*release.Release, []*unstructured.Unstructured) {
	t.Helper()
	rel, err := clientOnlyInstall(t, ns).Run(loadChart(t), vals)
	if err != nil {
		t.Fatal(err)
	}
	text := rel.Manifest
	for _, h := range rel.Hooks {
		text += "\n---\n" + h.Manifest
	}
	return rel, decode(t, text)
}

// clientOnlyInstall is `helm install --dry-run` of release wfsh in ns,
// for the control plane's Kubernetes version.
func clientOnlyInstall(t *testing.T, ns string) *action.Install {
	inst := action.NewInstall(&action.Configuration{})
	inst.ReleaseName, inst.Namespace = "wfsh", ns
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.KubeVersion = kubeVersion(t)
	return inst
}

func kubeVersion(t *testing.T) *chartutil.KubeVersion {
	t.Helper()
	v, err := kube.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	return &chartutil.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor}
}

func decode(t *testing.T, text string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(text), 4096)
	for {
		var o map[string]any
		if err := d.Decode(&o); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if o != nil {
			out = append(out, &unstructured.Unstructured{Object: o})
		}
	}
}

// makeNamespaces makes the namespaces named, deleted after the test.
func makeNamespaces(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { kube.CoreV1().Namespaces().Delete(context.Background(), n, metav1.DeleteOptions{}) })
	}
}

// dryRunApply applies each object as a server-side dry run, with strict
// field validation: the API server checks every field against its own
// schema, admission included, and stores nothing.
func dryRunApply(t *testing.T, ns string, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Errorf("%s %s: %v", gvk.Kind, o.GetName(), err)
			continue
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if o.GetNamespace() == "" {
				o.SetNamespace(ns)
			}
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		data, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		force := true
		_, err = ri.Patch(context.Background(), o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
			DryRun: []string{metav1.DryRunAll}, FieldManager: "wfsh-chart-test", Force: &force, FieldValidation: "Strict"})
		if err != nil {
			t.Errorf("server-side dry run of %s %s/%s: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
}

// find returns the rendered objects of a kind, by name.
func find(objs []*unstructured.Unstructured, kind string) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetKind() == kind {
			out[o.GetName()] = o
		}
	}
	return out
}

func as[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	if o == nil {
		t.Fatalf("no such object rendered")
	}
	var v T
	data, _ := o.MarshalJSON()
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

func names[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}
