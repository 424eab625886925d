//go:build k8s_integration

package helm

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// helmConfig is the Helm SDK's configuration for namespace ns, on the
// control plane, its releases kept in Secrets (Helm's default).
func helmConfig(t *testing.T, ns string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	kc := os.Getenv("KUBECONFIG")
	flags.KubeConfig, flags.Namespace = &kc, &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestChartInstallUpgradeUninstall, on SQLite and on the in-chart
// PostgreSQL, as a user does it (the seed's one pool): helm install; the
// generated Secrets hold values the server takes, and a server given them
// lets the pool's worker in; helm upgrade that changes the slots and adds
// a pool: the Secrets' values unchanged, the new pool's token made, the
// migration hook run (PostgreSQL); the workers' RBAC (SubjectAccessReview
// both ways, and the whole of what the worker may do, listed); helm
// uninstall: nothing of the release left in either namespace.
func TestChartInstallUpgradeUninstall(t *testing.T) {
	for _, db := range []string{"sqlite", "postgresql"} {
		t.Run(db, func(t *testing.T) { installUpgradeUninstall(t, db) })
	}
}

func installUpgradeUninstall(t *testing.T, db string) {
	ctx := context.Background()
	ns := "install-" + run + "-" + db
	etl, gpu := ns+"-etl", ns+"-gpu"
	makeNamespaces(t, ns, etl, gpu)
	vals := func(s string) map[string]any {
		v, err := chartutilValues(strings.NewReplacer("{DB}", db, "{NS}", ns).Replace(s))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cfg := helmConfig(t, ns)
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.Timeout = "wfsh", ns, 2*time.Minute
	rel, err := inst.Run(loadChart(t), vals(`
image: {repository: registry.example/wfsh}
database: {type: "{DB}"}
workers: [{pool: k8s, namespace: "{NS}-etl", jobVariables: [image, resources]}]
`))
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() { action.NewUninstall(cfg).Run("wfsh") })
	if rel.Info.Status != release.StatusDeployed || !strings.Contains(rel.Info.Notes, "kubectl -n "+ns+" port-forward svc/wfsh 4200:4200") {
		t.Errorf("install: %s; notes:\n%s", rel.Info.Status, rel.Info.Notes)
	}
	before := secrets(t, ns)
	checkAuthSecret(t, &corev1.Secret{Data: before["wfsh-auth"]})
	checkBootstrap(t, before, "k8s")

	t.Run("rbac", func(t *testing.T) { checkWorkerRBAC(t, ns, "k8s", etl) })
	t.Run("pods", func(t *testing.T) {
		pgAddr := ""
		if db == "postgresql" {
			pgAddr = playPostgres(t, ns)
		}
		playPods(t, ns, etl, pgAddr)
	})

	up := action.NewUpgrade(cfg)
	up.Namespace, up.Timeout, up.Wait = ns, 2*time.Minute, false
	rel, err = up.Run("wfsh", loadChart(t), vals(`
image: {repository: registry.example/wfsh}
database: {type: "{DB}"}
workers:
- {pool: k8s, namespace: "{NS}-etl", slots: 25}
- {pool: gpu, namespace: "{NS}-gpu"}
`))
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if rel.Version != 2 || rel.Info.Status != release.StatusDeployed {
		t.Errorf("upgrade: revision %d, %s", rel.Version, rel.Info.Status)
	}
	after := secrets(t, ns)
	for name, data := range before {
		for k, v := range data {
			if string(after[name][k]) != string(v) {
				t.Errorf("upgrade changed %s's %s", name, k)
			}
		}
	}
	if len(after["wfsh-pools"]["gpu"]) == 0 {
		t.Errorf("upgrade: no token for the new pool gpu: %v", slices.Sorted(maps.Keys(after["wfsh-pools"])))
	}
	checkBootstrap(t, after, "k8s", "gpu")
	w, err := kube.AppsV1().Deployments(ns).Get(ctx, "wfsh-worker-k8s", metav1.GetOptions{})
	if err != nil || !slices.Contains(w.Spec.Template.Spec.Containers[0].Args, "--slots=25") {
		t.Errorf("upgrade: the worker's args %v (%v)", w.Spec.Template.Spec.Containers[0].Args, err)
	}
	if _, err := kube.RbacV1().Roles(gpu).Get(ctx, "wfsh-worker-gpu", metav1.GetOptions{}); err != nil {
		t.Errorf("upgrade: the new pool's Role: %v", err)
	}
	if db == "postgresql" {
		// The hook ran (kwok ended its pod), and went when it succeeded.
		if _, err := kube.BatchV1().Jobs(ns).Get(ctx, "wfsh-migrate", metav1.GetOptions{}); err == nil {
			t.Errorf("the migration Job is still there after the upgrade")
		}
		if !slices.ContainsFunc(rel.Hooks, func(h *release.Hook) bool {
			return h.Name == "wfsh-migrate" && h.LastRun.Phase == release.HookPhaseSucceeded
		}) {
			t.Errorf("the migration hook did not succeed: %+v", rel.Hooks)
		}
	}

	if _, err := action.NewUninstall(cfg).Run("wfsh"); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	for _, n := range []string{ns, etl, gpu} {
		if left := leftovers(t, n); len(left) > 0 {
			t.Errorf("after uninstall, in %s: %v", n, left)
		}
	}
}

func chartutilValues(s string) (map[string]any, error) { return chartutil.ReadValues([]byte(s)) }

// secrets returns the data of the release's Secrets, by name.
func secrets(t *testing.T, ns string) map[string]map[string][]byte {
	t.Helper()
	l, err := kube.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=wfsh"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]byte{}
	for _, s := range l.Items {
		out[s.Name] = s.Data
	}
	return out
}

// checkBootstrap does what the chart's server does with the Secrets, on
// a store of its own: the admin token from wfsh-auth, the pools and their
// tokens from wfsh-pools; each pool's worker then reads its pool, of type
// kubernetes, with its token, and not another's.
func checkBootstrap(t *testing.T, sec map[string]map[string][]byte, pools ...string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := server.New(server.Options{Store: st, Lease: 10 * time.Second})
	if _, err := srv.Bootstrap(ctx, string(sec["wfsh-auth"]["admin-token"])); err != nil {
		t.Fatalf("the server refuses the chart's admin token: %v", err)
	}
	var pts []server.PoolToken
	for _, p := range slices.Sorted(maps.Keys(sec["wfsh-pools"])) {
		pts = append(pts, server.PoolToken{Pool: p, Type: "kubernetes", Token: string(sec["wfsh-pools"][p])})
	}
	if err := srv.EnsurePools(ctx, pts); err != nil {
		t.Fatalf("the server refuses the chart's pool tokens: %v", err)
	}
	h := httptest.NewServer(srv.Handler())
	defer h.Close()
	var all []store.Pool
	if err := (&server.Client{Base: h.URL, Token: string(sec["wfsh-auth"]["admin-token"])}).Do(ctx, "GET", "/pools", nil, &all); err != nil || len(all) != len(pools) {
		t.Errorf("the admin lists the pools: %+v, %v; want %v", all, err, pools)
	}
	for _, p := range pools {
		c := &server.Client{Base: h.URL, Token: string(sec["wfsh-pools"][p])}
		var got store.Pool
		if err := c.Do(ctx, "GET", "/pools/"+p, nil, &got); err != nil || got.Type != "kubernetes" {
			t.Errorf("pool %s's worker reads its pool: %+v, %v", p, got, err)
		}
		if err := c.Do(ctx, "GET", "/pools", nil, &all); err == nil {
			t.Errorf("pool %s's worker token lists every pool", p)
		}
	}
}

// leftovers lists what of release wfsh is still in namespace ns: its
// objects by label, and Helm's own release records. A claim deleted but
// held by kubernetes.io/pvc-protection is gone as far as Helm can make it
// (the controller that lifts that finalizer is not among the tier's).
func leftovers(t *testing.T, ns string) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	for _, r := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "services"},
		{Version: "v1", Resource: "serviceaccounts"}, {Version: "v1", Resource: "persistentvolumeclaims"},
		{Group: "apps", Version: "v1", Resource: "deployments"}, {Group: "apps", Version: "v1", Resource: "statefulsets"},
		{Group: "batch", Version: "v1", Resource: "jobs"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	} {
		for _, sel := range []string{"app.kubernetes.io/instance=wfsh", "owner=helm,name=wfsh"} {
			l, err := dyn.Resource(r).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range l.Items {
				if o.GetDeletionTimestamp() != nil && slices.Equal(o.GetFinalizers(), []string{"kubernetes.io/pvc-protection"}) {
					continue
				}
				left = append(left, fmt.Sprintf("%s %s", r.Resource, o.GetName()))
			}
		}
	}
	return left
}

// checkWorkerRBAC: the worker of pool may, in its Jobs' namespace, do
// what wfsh-worker-kubernetes does, and nothing else anywhere: each verb
// it needs is allowed (SubjectAccessReview), each of a list it must not
// have is denied, here and in other namespaces, and the rules the API
// server lists for it (its own rules review, impersonated) are exactly
// those.
func checkWorkerRBAC(t *testing.T, ns, pool, jobNS string) {
	ctx := context.Background()
	user := "system:serviceaccount:" + ns + ":wfsh-worker-" + pool
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	type attr struct{ ns, verb, group, resource, sub string }
	allowed := func(a attr) bool {
		r, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: a.ns, Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	need := []attr{
		{jobNS, "create", "batch", "jobs", ""}, {jobNS, "get", "batch", "jobs", ""}, {jobNS, "list", "batch", "jobs", ""},
		{jobNS, "watch", "batch", "jobs", ""}, {jobNS, "delete", "batch", "jobs", ""},
		{jobNS, "get", "", "pods", ""}, {jobNS, "list", "", "pods", ""}, {jobNS, "watch", "", "pods", ""},
		{jobNS, "get", "", "pods", "log"}, {jobNS, "create", "", "secrets", ""}, {jobNS, "patch", "", "secrets", ""},
	}
	for _, a := range need {
		if !allowed(a) {
			t.Errorf("the worker may not %s %s/%s in %s", a.verb, a.resource, a.sub, a.ns)
		}
		for _, other := range []string{ns, "default", "kube-system"} {
			if b := (attr{other, a.verb, a.group, a.resource, a.sub}); allowed(b) {
				t.Errorf("the worker may %s %s/%s in %s, outside its Jobs' namespace", b.verb, b.resource, b.sub, b.ns)
			}
		}
	}
	for _, a := range []attr{
		{jobNS, "get", "", "secrets", ""}, {jobNS, "list", "", "secrets", ""}, {jobNS, "delete", "", "secrets", ""},
		{jobNS, "update", "batch", "jobs", ""}, {jobNS, "patch", "batch", "jobs", ""}, {jobNS, "create", "batch", "cronjobs", ""},
		{jobNS, "create", "", "pods", ""}, {jobNS, "delete", "", "pods", ""}, {jobNS, "create", "", "pods", "exec"},
		{jobNS, "get", "", "configmaps", ""}, {jobNS, "create", "apps", "deployments", ""},
		{jobNS, "create", "rbac.authorization.k8s.io", "roles", ""}, {jobNS, "create", "rbac.authorization.k8s.io", "rolebindings", ""},
		{"", "list", "", "namespaces", ""}, {"", "get", "", "nodes", ""}, {"", "list", "batch", "jobs", ""},
	} {
		if allowed(a) {
			t.Errorf("the worker may %s %s/%s in %q", a.verb, a.resource, a.sub, a.ns)
		}
	}

	// Everything it may do in its namespace, as the API server lists it.
	imp := rest.CopyConfig(restCfg)
	imp.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	as := k8s.NewForConfigOrDie(imp)
	for n, want := range map[string][]string{jobNS: {
		"/pods/get", "/pods/list", "/pods/watch", "/pods/log/get", "/secrets/create", "/secrets/patch",
		"batch/jobs/create", "batch/jobs/delete", "batch/jobs/get", "batch/jobs/list", "batch/jobs/watch",
	}, ns: nil} {
		r, err := as.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: n}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, rule := range r.Status.ResourceRules {
			for _, g := range rule.APIGroups {
				if g == "authorization.k8s.io" || g == "authentication.k8s.io" {
					continue // what every authenticated user may ask about itself
				}
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						got = append(got, g+"/"+res+"/"+v)
					}
				}
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("in %s the worker may:\n  %v\nwant:\n  %v", n, got, want)
		}
	}
}
