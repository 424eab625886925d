package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/store"
)

// TestPoolJobTemplateCLI: wfsh pool create/set/show with a Job template
// (YAML) and the job variables a kubernetes pool allows, and wfsh deploy
// --job-var / --job-vars against them: what is allowed is kept, what is
// not is one line and exit 2, the deployment unchanged.
func TestPoolJobTemplateCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	ps := startServer(t, 10*time.Second, "")
	tok := ps.admin.Token
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "pool.yaml")
	os.WriteFile(tmpl, []byte("apiVersion: batch/v1\nkind: Job\nmetadata: {namespace: etl}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: wfsh, image: \"wfsh:v1\"}\n"), 0o644)
	run := func(want int, args ...string) string {
		t.Helper()
		out, code := ps.wfsh(t, tok, args...)
		if code != want {
			t.Fatalf("wfsh %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	run(0, "pool", "create", "k8s", "--type", "kubernetes", "--job-template", tmpl, "--job-variables", "resources")
	show := func() store.Pool {
		var p store.Pool
		if err := json.Unmarshal([]byte(run(0, "pool", "show", "k8s")), &p); err != nil {
			t.Fatal(err)
		}
		if p.JobTemplate != nil {
			var b bytes.Buffer
			json.Compact(&b, p.JobTemplate)
			p.JobTemplate = b.Bytes()
		}
		return p
	}
	if p := show(); !strings.Contains(string(p.JobTemplate), `"namespace":"etl"`) || strings.Join(p.JobVariables, ",") != "resources" {
		t.Fatalf("pool show: %s %v", p.JobTemplate, p.JobVariables)
	}
	// set changes what it is given, and keeps the rest.
	run(0, "pool", "set", "k8s", "--concurrency", "4", "--job-variables", "resources,env")
	if p := show(); p.Concurrency != 4 || len(p.JobTemplate) == 0 || strings.Join(p.JobVariables, ",") != "resources,env" {
		t.Fatalf("after set: %+v", p)
	}

	flow := filepath.Join(dir, "flow", "f.star")
	os.MkdirAll(filepath.Dir(flow), 0o755)
	os.WriteFile(flow, []byte("@task\ndef t():\n    pass\n\n@flow(name=\"F\", timeout=\"10m\")\ndef f():\n    t()\n"), 0o644)
	vars := filepath.Join(dir, "vars.yaml")
	os.WriteFile(vars, []byte("resources:\n  limits: {memory: 2Gi}\nenv: {DAY: \"30\"}\n"), 0o644)
	run(0, "deploy", flow, "--name", "d", "--pool", "k8s", "--job-vars", vars, "--job-var", `env={"DAY": "31"}`)
	out := run(2, "deploy", flow, "--name", "d", "--pool", "k8s", "--job-var", "image=x:y")
	want := "server: the deployment is not valid: job_variables.image: pool k8s does not let deployments set image (it allows: resources, env; wfsh pool set k8s --job-variables ...) (422)\n"
	if out != want {
		t.Errorf("refused:\n%s\nwant\n%s", out, want)
	}
	if out := run(2, "deploy", flow, "--name", "d", "--pool", "k8s", "--job-var", "resources"); !strings.Contains(out, `--job-var "resources": want KEY=VALUE`) {
		t.Errorf("no value: %s", out)
	}
	var d json.RawMessage
	if err := ps.admin.Do(context.Background(), "GET", "/deployments/F/d", nil, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(d), `"job_variables":{"env":{"DAY":"31"},"resources":{"limits":{"memory":"2Gi"}}}`) || !strings.Contains(string(d), `"timeout":600000000000`) {
		t.Errorf("the deployment kept: %s", d)
	}
	// An empty template removes it: the workers' own again.
	run(0, "pool", "set", "k8s", "--job-template", "")
	if p := show(); p.JobTemplate != nil || len(p.JobVariables) != 2 {
		t.Errorf("template removed: %+v", p)
	}
}
