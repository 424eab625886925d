//go:build k8s_integration

package helm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/k8spool"
	"github.com/wfsh/wfsh/seal"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// TestChartRender renders each value set and has the API server check
// it (a server-side dry-run apply of every object, hooks included, in
// namespaces made for it), then checks what each set is for.
func TestChartRender(t *testing.T) {
	for _, set := range []string{"sqlite", "postgresql", "external", "two-pools"} {
		t.Run(set, func(t *testing.T) {
			ns := "render-" + run + "-" + set
			makeNamespaces(t, ns, ns+"-etl", ns+"-gpu")
			_, objs := render(t, ns, values(t, set, ns))
			dryRunApply(t, ns, objs)
			checks[set](t, ns, objs)
			checkCommon(t, ns, objs)
		})
	}
}

var checks = map[string]func(t *testing.T, ns string, objs []*unstructured.Unstructured){
	"sqlite": func(t *testing.T, ns string, objs []*unstructured.Unstructured) {
		d := as[appsv1.Deployment](t, find(objs, "Deployment")["wfsh"])
		if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("SQLite: replicas %d, strategy %q; want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
		}
		if _, ok := find(objs, "PersistentVolumeClaim")["wfsh-data"]; !ok {
			t.Errorf("SQLite: no claim wfsh-data: %v", names(find(objs, "PersistentVolumeClaim")))
		}
		if v := d.Spec.Template.Spec.Volumes[0]; v.Name != "home" || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "wfsh-data" {
			t.Errorf("SQLite: the home volume is %+v, want the claim", v)
		}
		if db := envOf(d.Spec.Template.Spec.Containers[0])["WFSH_DB"]; db.Value != "/var/lib/wfsh/server.db" {
			t.Errorf("SQLite: WFSH_DB %+v", db)
		}
		if j := find(objs, "Job"); len(j) != 0 {
			t.Errorf("SQLite: a hook Job %v (the init container migrates)", names(j))
		}
	},
	"postgresql": func(t *testing.T, ns string, objs []*unstructured.Unstructured) {
		ss := as[appsv1.StatefulSet](t, find(objs, "StatefulSet")["wfsh-postgresql"])
		c := ss.Spec.Template.Spec.Containers[0]
		if !strings.HasPrefix(c.Image, "postgres:") {
			t.Errorf("PostgreSQL image %q, want the official postgres", c.Image)
		}
		if len(ss.Spec.VolumeClaimTemplates) != 1 || ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("PostgreSQL persistence: %d claim templates, retention %+v; want 1, Retain", len(ss.Spec.VolumeClaimTemplates), ss.Spec.PersistentVolumeClaimRetentionPolicy)
		}
		if pw := envOf(c)["POSTGRES_PASSWORD"]; pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef.Name != "wfsh-postgresql" {
			t.Errorf("POSTGRES_PASSWORD %+v, want from the Secret wfsh-postgresql", pw)
		}
		d := as[appsv1.Deployment](t, find(objs, "Deployment")["wfsh"])
		env := envOf(d.Spec.Template.Spec.Containers[0])
		if db := env["WFSH_DB"].Value; db != "postgres://wfsh:$(WFSH_PG_PASSWORD)@wfsh-postgresql:5432/wfsh?sslmode=disable" {
			t.Errorf("WFSH_DB %q", db)
		}
		if *d.Spec.Replicas != 2 || d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			t.Errorf("replicas %d, strategy %q", *d.Spec.Replicas, d.Spec.Strategy.Type)
		}
		j := as[batchv1.Job](t, find(objs, "Job")["wfsh-migrate"])
		if h := j.Annotations["helm.sh/hook"]; h != "pre-upgrade" {
			t.Errorf("the migration hook: %q, want pre-upgrade (at install the database does not exist yet)", h)
		}
		if s := as[corev1.Secret](t, find(objs, "Secret")["wfsh-postgresql"]); len(s.Data["password"]) != 32 {
			t.Errorf("the database's password: %d characters", len(s.Data["password"]))
		}
	},
	"external": func(t *testing.T, ns string, objs []*unstructured.Unstructured) {
		if ss := find(objs, "StatefulSet"); len(ss) != 0 {
			t.Errorf("an external database, and a StatefulSet %v", names(ss))
		}
		d := as[appsv1.Deployment](t, find(objs, "Deployment")["wfsh"])
		db := envOf(d.Spec.Template.Spec.Containers[0])["WFSH_DB"]
		if db.ValueFrom == nil || db.ValueFrom.SecretKeyRef.Name != "wfsh-db" || db.ValueFrom.SecretKeyRef.Key != "url" {
			t.Errorf("WFSH_DB %+v, want from the Secret wfsh-db, key url", db)
		}
		j := as[batchv1.Job](t, find(objs, "Job")["wfsh-migrate"])
		if h := j.Annotations["helm.sh/hook"]; h != "pre-install,pre-upgrade" {
			t.Errorf("the migration hook: %q", h)
		}
		if args := j.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args[:3], []string{"server", "migrate", "--db"}) {
			t.Errorf("the migration's arguments: %q", args)
		}
		if len(find(objs, "Role")) != 0 || find(objs, "Secret")["wfsh-pools"] != nil {
			t.Errorf("no workers, and a Role or a pools Secret")
		}
	},
	"two-pools": func(t *testing.T, ns string, objs []*unstructured.Unstructured) {
		ds := find(objs, "Deployment")
		if got := names(ds); !slices.Equal(got, []string{"wfsh", "wfsh-worker-etl", "wfsh-worker-gpu"}) {
			t.Fatalf("Deployments %v", got)
		}
		pools := as[corev1.Secret](t, find(objs, "Secret")["wfsh-pools"])
		if got := names(pools.Data); !slices.Equal(got, []string{"etl", "gpu"}) {
			t.Errorf("the pools Secret's keys %v", got)
		}
		if string(pools.Data["etl"]) == string(pools.Data["gpu"]) {
			t.Errorf("two pools with one token")
		}
		srv := as[appsv1.Deployment](t, ds["wfsh"])
		if args := srv.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--kubernetes-pools=/etc/wfsh/pools") ||
			!slices.Contains(args, "--kubernetes-pool-variables=/etc/wfsh/pool-variables") ||
			!slices.Contains(args, "--kubernetes-pool-templates=/etc/wfsh/pool-templates") {
			t.Errorf("the server's args %q", args)
		}
		// The server reads each pool's template from its worker's ConfigMap.
		var projected []string
		for _, v := range srv.Spec.Template.Spec.Volumes {
			if v.Name == "pool-templates" && v.Projected != nil {
				for _, src := range v.Projected.Sources {
					for _, it := range src.ConfigMap.Items {
						projected = append(projected, src.ConfigMap.Name+":"+it.Key+"->"+it.Path)
					}
				}
			}
		}
		if want := []string{"wfsh-worker-etl-job-template:job-template.yaml->etl", "wfsh-worker-gpu-job-template:job-template.yaml->gpu"}; !slices.Equal(projected, want) {
			t.Errorf("the server's pool-templates volume %q, want %q", projected, want)
		}
		if srv.Spec.Template.Annotations["checksum/job-templates"] == "" {
			t.Errorf("the server's pod has no checksum of the Job templates: a changed template would not restart it")
		}
		// Only etl says what its deployments may set.
		vars := as[corev1.ConfigMap](t, find(objs, "ConfigMap")["wfsh-pool-variables"])
		if len(vars.Data) != 1 || vars.Data["etl"] != "image,env" {
			t.Errorf("the pool variables ConfigMap: %v", vars.Data)
		}
		for pool, jobNS := range map[string]string{"etl": ns + "-etl", "gpu": ns + "-gpu"} {
			w := as[appsv1.Deployment](t, ds["wfsh-worker-"+pool])
			c := w.Spec.Template.Spec.Containers[0]
			if w.Spec.Template.Spec.ServiceAccountName != "wfsh-worker-"+pool {
				t.Errorf("%s: service account %q", pool, w.Spec.Template.Spec.ServiceAccountName)
			}
			want := "--pod-server=http://wfsh." + ns + ".svc:4200"
			if !slices.Contains(c.Args, "--pool="+pool) || !slices.Contains(c.Args, want) {
				t.Errorf("%s: args %q", pool, c.Args)
			}
			if tok := envOf(c)["WFSH_TOKEN"]; tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef.Key != pool {
				t.Errorf("%s: WFSH_TOKEN %+v", pool, tok)
			}
			role := as[rbacv1.Role](t, find(objs, "Role")["wfsh-worker-"+pool])
			rb := as[rbacv1.RoleBinding](t, find(objs, "RoleBinding")["wfsh-worker-"+pool])
			if role.Namespace != jobNS || rb.Namespace != jobNS || rb.Subjects[0].Namespace != ns {
				t.Errorf("%s: Role in %q, binding in %q for a service account of %q; want %q, %q, %q", pool, role.Namespace, rb.Namespace, rb.Subjects[0].Namespace, jobNS, jobNS, ns)
			}
			tmpl := jobTemplate(t, find(objs, "ConfigMap")["wfsh-worker-"+pool+"-job-template"])
			if tmpl.Namespace != jobNS || tmpl.Spec.Template.Spec.Containers[0].Image != "registry.example/wfsh:v1" {
				t.Errorf("%s: template in %q with image %q", pool, tmpl.Namespace, tmpl.Spec.Template.Spec.Containers[0].Image)
			}
			// The Job the worker makes from it is one the API server takes.
			job := k8spool.BuildJob(tmpl, k8spool.JobInput{Name: "wfsh-run1-0", Pool: pool, Worker: "w", Server: "http://wfsh:4200", Secret: "wfsh-run1-0", TTL: 600,
				Claimed: server.Claimed{Run: store.Run{ID: "run1", Flow: "F"}, File: "f.star", Bundle: "abc"}})
			obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{Object: obj}
			u.SetAPIVersion("batch/v1")
			u.SetKind("Job")
			dryRunApply(t, jobNS, []*unstructured.Unstructured{u})
		}
		gpu := jobTemplate(t, find(objs, "ConfigMap")["wfsh-worker-gpu-job-template"])
		if gpu.Spec.ActiveDeadlineSeconds == nil || *gpu.Spec.ActiveDeadlineSeconds != 3600 || gpu.Spec.Template.Spec.NodeSelector["accelerator"] != "nvidia" {
			t.Errorf("the gpu pool's template lost its own fields: %+v", gpu.Spec)
		}
	},
}

// checkCommon: what every value set must have.
func checkCommon(t *testing.T, ns string, objs []*unstructured.Unstructured) {
	d := as[appsv1.Deployment](t, find(objs, "Deployment")["wfsh"])
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	if ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
		t.Errorf("the server's pod may run as root")
	}
	for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
		sc := c.SecurityContext
		if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s: security context %+v", c.Name, sc)
		}
	}
	if len(ps.InitContainers) != 1 || !slices.Equal(ps.InitContainers[0].Args[:2], []string{"server", "migrate"}) {
		t.Errorf("the init container: %+v", ps.InitContainers)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes %s, %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	svc := as[corev1.Service](t, find(objs, "Service")["wfsh"])
	if svc.Spec.Ports[0].Port != 4200 {
		t.Errorf("the Service's port %d", svc.Spec.Ports[0].Port)
	}
	env := envOf(c)
	for _, k := range []string{"WFSH_ADMIN_TOKEN", "WFSH_SECRET_KEY"} {
		if e := env[k]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "wfsh-auth" {
			t.Errorf("%s: %+v, want from the Secret wfsh-auth", k, e)
		}
	}
	checkAuthSecret(t, as[corev1.Secret](t, find(objs, "Secret")["wfsh-auth"]))
}

func jobTemplate(t *testing.T, cm *unstructured.Unstructured) *batchv1.Job {
	t.Helper()
	data := as[corev1.ConfigMap](t, cm).Data["job-template.yaml"]
	p := filepath.Join(t.TempDir(), "job-template.yaml")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := k8spool.LoadTemplate(p) // as the worker reads it
	if err != nil {
		t.Fatalf("the worker refuses the chart's template: %v\n%s", err, data)
	}
	return j
}

// TestChartRefuses: value sets the chart must refuse, each with a
// message that says what to change.
func TestChartRefuses(t *testing.T) {
	for _, c := range []struct{ vals, want string }{
		{"server: {replicas: 2}", "server.replicas > 1 needs PostgreSQL"},
		{"database: {type: external}", "existingSecret"},
		{"database: {type: mysql}", "/database/type': value must be one of"},
		{"workers: [{pool: k8s}, {pool: k8s}]", `pool "k8s" is listed twice`},
		{"workers: [{pool: Bad_Name}]", "pool"},
		{"workers: [{namespace: etl}]", "pool"},
		{"worker: {slots: 0}", "slots"},
		{"serverr: {}", "serverr"},
	} {
		vals, err := chartutil.ReadValues([]byte(c.vals))
		if err != nil {
			t.Fatal(err)
		}
		_, err = clientOnlyInstall(t, "refuse").Run(loadChart(t), vals)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.vals, err, c.want)
		}
	}
}

// checkAuthSecret: the generated admin token is one the server takes,
// the key one it can seal with.
func checkAuthSecret(t *testing.T, s *corev1.Secret) {
	t.Helper()
	if err := auth.CheckFormat(string(s.Data["admin-token"])); err != nil {
		t.Errorf("the generated admin token %q: %v", s.Data["admin-token"], err)
	}
	if _, err := seal.ParseKey(string(s.Data["secret-key"])); err != nil {
		t.Errorf("the generated secret key: %v", err)
	}
}
