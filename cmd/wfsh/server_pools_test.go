package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// secretVolume writes files as the kubelet mounts a Secret, and updates
// them as it does: each key a link to ..data/KEY, ..data a link to a
// timestamped directory, swapped at once for a new one.
func secretVolume(t *testing.T, dir string, gen int, files map[string]string) {
	t.Helper()
	stamp := fmt.Sprintf("..2026_12_03_08_00_00.%09d", gen)
	if err := os.MkdirAll(filepath.Join(dir, stamp), 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, stamp, k), []byte(v), 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// TestServerKubernetesPools: wfsh server --kubernetes-pools reads a
// Secret's volume: pool k8s is made of type kubernetes, and its worker
// token from the file reads it; the Secret given a new value and the
// server restarted on the same database: the old token is refused, the
// new one works, and the pool is there once.
func TestServerKubernetesPools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "server.db")
	first, second := auth.New().Plaintext, auth.New().Plaintext
	dir := filepath.Join(t.TempDir(), "pools")
	secretVolume(t, dir, 1, map[string]string{"k8s": first + "\n"})
	ps := startServer(t, 10*time.Second, db, "--kubernetes-pools", dir)
	w := &server.Client{Base: ps.admin.Base, Token: first}
	var p store.Pool
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); err != nil || p.Type != "kubernetes" {
		t.Fatalf("the pool's worker reads its pool: %+v, %v", p, err)
	}

	ps.cmd.Process.Signal(os.Interrupt)
	ps.cmd.Wait()
	secretVolume(t, dir, 2, map[string]string{"k8s": second})
	ps.restart(t, db, "--kubernetes-pools", dir)
	var all []store.Pool
	deadline := time.Now().Add(10 * time.Second)
	for err := ps.admin.Do(ctx, "GET", "/pools", nil, &all); err != nil; err = ps.admin.Do(ctx, "GET", "/pools", nil, &all) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(all) != 1 || all[0].Name != "k8s" {
		t.Errorf("pools %+v; want k8s once", all)
	}
	var ae *server.APIError
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("the replaced token: %v, want 401", err)
	}
	w.Token = second
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); err != nil || p.Type != "kubernetes" {
		t.Errorf("the new token: %+v, %v", p, err)
	}
}

// TestServerKubernetesPoolVariables: wfsh server
// --kubernetes-pool-variables reads a ConfigMap's volume: the job
// variables listed for a pool are the pool's after the start, replacing
// what wfsh pool set gave it at each start; a pool not listed keeps its
// own; an unknown variable, or a pool that is not declared, stops the
// server with one line, exit 2.
func TestServerKubernetesPoolVariables(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "server.db")
	pools, vars := filepath.Join(t.TempDir(), "pools"), filepath.Join(t.TempDir(), "vars")
	secretVolume(t, pools, 1, map[string]string{"k8s": auth.New().Plaintext, "gpu": auth.New().Plaintext})
	secretVolume(t, vars, 1, map[string]string{"k8s": "image, resources\nenv\n"})
	ps := startServer(t, 10*time.Second, db, "--kubernetes-pools", pools, "--kubernetes-pool-variables", vars)
	variables := func(pool string) []string {
		t.Helper()
		var p store.Pool
		if err := ps.admin.Do(ctx, "GET", "/pools/"+pool, nil, &p); err != nil {
			t.Fatal(err)
		}
		return p.JobVariables
	}
	if got := variables("k8s"); !slices.Equal(got, []string{"image", "resources", "env"}) {
		t.Errorf("pool k8s's job variables: %q", got)
	}
	if got := variables("gpu"); len(got) != 0 {
		t.Errorf("pool gpu's job variables: %q, want none", got)
	}
	for pool, list := range map[string]string{"k8s": "labels", "gpu": "annotations"} {
		if out, code := ps.wfsh(t, ps.admin.Token, "pool", "set", pool, "--job-variables", list); code != 0 {
			t.Fatalf("pool set: exit %d\n%s", code, out)
		}
	}

	ps.cmd.Process.Signal(os.Interrupt)
	ps.cmd.Wait()
	ps.restart(t, db, "--kubernetes-pools", pools, "--kubernetes-pool-variables", vars)
	deadline := time.Now().Add(10 * time.Second)
	for ps.admin.Do(ctx, "GET", "/pools", nil, nil) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := variables("k8s"); !slices.Equal(got, []string{"image", "resources", "env"}) {
		t.Errorf("after a restart, pool k8s's job variables: %q, want the ConfigMap's again", got)
	}
	if got := variables("gpu"); !slices.Equal(got, []string{"annotations"}) {
		t.Errorf("after a restart, pool gpu's job variables: %q, want wfsh pool set's", got)
	}
	ps.cmd.Process.Signal(os.Interrupt)
	ps.cmd.Wait()

	for i, c := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown", map[string]string{"k8s": "image,namespace"}, `--kubernetes-pool-variables ` + vars + `: the job variables of pool k8s: no job variable "namespace" (there are: active_deadline_seconds,`},
		// k8s's link now dangles: only cpu is in the volume.
		{"no pool", map[string]string{"cpu": "image"}, `--kubernetes-pool-variables: ` + filepath.Join(vars, "cpu") + `: pool cpu is not one of --kubernetes-pools ` + pools},
	} {
		name := c.name
		secretVolume(t, vars, 2+i, c.files)
		cmd := exec.Command(ps.bin, "server", "--db", db, "--listen", "127.0.0.1:0", "--kubernetes-pools", pools, "--kubernetes-pool-variables", vars)
		cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("%s: %v\n%s\nwant one line with %q", name, err, out, c.want)
		}
	}
}

// TestServerKubernetesPoolTemplates: --kubernetes-pool-templates (the
// chart's merged Job template of each worker, a mounted ConfigMap)
// gives the listed pools their base Job template at each start, over
// what wfsh pool set gave them; a pool not listed keeps its own; a file
// that is not a Job, or not YAML, or of a pool not declared, is refused
// with one line and exit 2.
func TestServerKubernetesPoolTemplates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "server.db")
	pools, tmpls := filepath.Join(dir, "pools"), filepath.Join(dir, "templates")
	secretVolume(t, pools, 1, map[string]string{"k8s": auth.New().Plaintext, "gpu": auth.New().Plaintext})
	const chart = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  namespace: etl\nspec:\n  template:\n    spec:\n      serviceAccountName: runner\n      containers:\n      - name: wfsh\n        image: reg.example/wfsh:1\n"
	secretVolume(t, tmpls, 1, map[string]string{"k8s": chart})
	ps := startServer(t, 10*time.Second, db, "--kubernetes-pools", pools, "--kubernetes-pool-templates", tmpls)
	template := func(pool string) map[string]any {
		t.Helper()
		var p store.Pool
		if err := ps.admin.Do(ctx, "GET", "/pools/"+pool, nil, &p); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if len(p.JobTemplate) > 0 {
			if err := json.Unmarshal(p.JobTemplate, &m); err != nil {
				t.Fatalf("pool %s's job template %s: %v", pool, p.JobTemplate, err)
			}
		}
		return m
	}
	image := func(m map[string]any) any {
		defer func() { recover() }()
		return m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]
	}
	k8s := template("k8s")
	if image(k8s) != "reg.example/wfsh:1" || k8s["metadata"].(map[string]any)["namespace"] != "etl" {
		t.Errorf("pool k8s's job template: %v, want the ConfigMap's", k8s)
	}
	if got := template("gpu"); got != nil {
		t.Errorf("pool gpu's job template: %v, want none", got)
	}
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte(strings.ReplaceAll(chart, "wfsh:1", "wfsh:2")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pool := range []string{"k8s", "gpu"} {
		if out, code := ps.wfsh(t, ps.admin.Token, "pool", "set", pool, "--job-template", other); code != 0 {
			t.Fatalf("pool set: exit %d\n%s", code, out)
		}
	}
	if got := image(template("k8s")); got != "reg.example/wfsh:2" {
		t.Fatalf("after wfsh pool set, pool k8s's image: %v", got)
	}

	ps.cmd.Process.Signal(os.Interrupt)
	ps.cmd.Wait()
	ps.restart(t, db, "--kubernetes-pools", pools, "--kubernetes-pool-templates", tmpls)
	deadline := time.Now().Add(10 * time.Second)
	for ps.admin.Do(ctx, "GET", "/pools", nil, nil) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := image(template("k8s")); got != "reg.example/wfsh:1" {
		t.Errorf("after a restart, pool k8s's image: %v, want the ConfigMap's again", got)
	}
	if got := image(template("gpu")); got != "reg.example/wfsh:2" {
		t.Errorf("after a restart, pool gpu's image: %v, want wfsh pool set's", got)
	}
	ps.cmd.Process.Signal(os.Interrupt)
	ps.cmd.Wait()

	for i, c := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"not a Job", map[string]string{"k8s": "apiVersion: v1\nkind: Pod\n"}, `--kubernetes-pool-templates ` + filepath.Join(tmpls, "k8s") + `: the job template of pool k8s: want a batch/v1 Job, not v1 Pod`},
		{"no container", map[string]string{"k8s": "kind: Job\n"}, `the job template of pool k8s: spec.template.spec.containers: none`},
		{"not YAML", map[string]string{"k8s": "kind: [Job\n"}, `--kubernetes-pool-templates ` + filepath.Join(tmpls, "k8s") + `: yaml: line 1:`},
		{"no pool", map[string]string{"cpu": chart}, `--kubernetes-pool-templates: ` + filepath.Join(tmpls, "cpu") + `: pool cpu is not one of --kubernetes-pools ` + pools},
	} {
		secretVolume(t, tmpls, 2+i, c.files)
		cmd := exec.Command(ps.bin, "server", "--db", db, "--listen", "127.0.0.1:0", "--kubernetes-pools", pools, "--kubernetes-pool-templates", tmpls)
		cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("%s: %v\n%s\nwant one line with %q", c.name, err, out, c.want)
		}
	}
	cmd := exec.Command(ps.bin, "server", "--db", db, "--listen", "127.0.0.1:0", "--kubernetes-pool-templates", tmpls)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home)
	if out, err := cmd.CombinedOutput(); !strings.Contains(string(out), "--kubernetes-pool-templates needs --kubernetes-pools") {
		t.Errorf("templates without pools: %v\n%s", err, out)
	}
}
