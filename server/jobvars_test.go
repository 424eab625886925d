package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

func TestCheckJobVariable(t *testing.T) {
	for _, c := range []struct {
		name, value, err string
	}{
		{"image", `"registry.example.com/wfsh:v2"`, ""},
		{"image", `"two words"`, "not an image reference"},
		{"image", `3`, "want an image reference"},
		{"image_pull_policy", `"Always"`, ""},
		{"image_pull_policy", `"Sometimes"`, "want one of Always, IfNotPresent, Never"},
		{"service_account_name", `"etl-runner"`, ""},
		{"service_account_name", `"ETL"`, "not a DNS subdomain"},
		{"resources", `{"requests": {"cpu": "500m"}, "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"}}`, ""},
		{"resources", `{"limits": {"memory": "lots"}}`, `limits.memory: "lots" is not a quantity`},
		{"resources", `{"limit": {"memory": "1Gi"}}`, `unknown field "limit"`},
		{"env", `{"DATE": "2020-11-30"}`, ""},
		{"env", `{"WFSH_TOKEN": "x"}`, "WFSH_TOKEN is the worker's to set"},
		{"env", `{"A B": "x"}`, "not an environment variable's name"},
		{"node_selector", `{"disk": "ssd", "topology.kubernetes.io/zone": "a"}`, ""},
		{"node_selector", `{"disk": "s s d"}`, "not a label value"},
		{"labels", `{"-bad": "x"}`, "not a label key"},
		{"annotations", `{"example.com/owner": "any text at all"}`, ""},
		{"tolerations", `[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]`, ""},
		{"tolerations", `[{"key": "gpu", "operator": "Maybe"}]`, "[0].operator"},
		{"tolerations", `[{"key": "gpu", "effect": "NoSchedule", "tolerationSeconds": 5}]`, "needs effect NoExecute"},
		{"ttl_seconds_after_finished", `0`, ""},
		{"ttl_seconds_after_finished", `-1`, "at least 0"},
		{"active_deadline_seconds", `"1h"`, "want a whole number of seconds"},
		{"cpu", `"1"`, `no job variable "cpu"`},
	} {
		err := CheckJobVariable(c.name, json.RawMessage(c.value))
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s=%s: %v, want %q", c.name, c.value, err, c.err)
		}
	}
}

// TestPoolJobVariables: a kubernetes pool's Job template and the job
// variables it allows, set through the API; a deployment's job
// variables checked against them when it is made, and handed to the
// worker with each run it claims.
func TestPoolJobVariables(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	tmpl := json.RawMessage(`{"apiVersion":"batch/v1","kind":"Job","metadata":{"namespace":"etl"},"spec":{"template":{"spec":{"containers":[{"name":"wfsh","image":"wfsh:v1"}]}}}}`)
	vars := []string{"resources", "node_selector"}
	if err := ts.admin.Do(ctx, "PUT", "/pools/k8s", PoolSpec{Type: "kubernetes", JobTemplate: tmpl, JobVariables: &vars}, nil); err != nil {
		t.Fatal(err)
	}
	// Refused: a template without an image, an unknown variable, job
	// settings on a process pool; each with where and why.
	for _, c := range []struct {
		spec PoolSpec
		want string
	}{
		{PoolSpec{Type: "kubernetes", JobTemplate: json.RawMessage(`{"spec":{"template":{"spec":{"containers":[{"name":"wfsh"}]}}}}`)},
			`job_template: spec.template.spec.containers: container "wfsh" has no image`},
		{PoolSpec{Type: "kubernetes", JobTemplate: json.RawMessage(`{"kind":"Pod"}`)}, "job_template: want a batch/v1 Job, not  Pod"},
		{PoolSpec{Type: "kubernetes", JobVariables: &[]string{"image", "cpu"}}, `job_variables[1]: no job variable "cpu"`},
		{PoolSpec{Type: "process"}, "type: a Job template and job variables are for a pool of type kubernetes, not process"},
	} {
		err := ts.admin.Do(ctx, "PUT", "/pools/k8s", c.spec, nil)
		if status(err) != 422 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want 422 %q", c.spec, err, c.want)
		}
	}
	// Set again without template nor variables: both kept.
	if err := ts.admin.Do(ctx, "PUT", "/pools/k8s", PoolSpec{Type: "kubernetes", Concurrency: 3}, nil); err != nil {
		t.Fatal(err)
	}
	p, err := ts.st.GetPool(ctx, "k8s")
	if err != nil || p.Concurrency != 3 || len(p.JobVariables) != 2 || !strings.Contains(string(p.JobTemplate), `"wfsh:v1"`) {
		t.Fatalf("pool %+v, %v", p, err)
	}

	dev, worker := ts.token(t, string(auth.Developer)), ts.tokenFor(t, "k8s")
	d := ts.deploy(t, dev, DeploymentSpec{Pool: "k8s", JobVariables: map[string]json.RawMessage{"resources": json.RawMessage(`{"limits":{"memory":"2Gi"}}`)}})
	if string(d.JobVariables) != `{"resources":{"limits":{"memory":"2Gi"}}}` {
		t.Errorf("deployment's job variables %s", d.JobVariables)
	}
	for _, c := range []struct {
		pool string
		vars map[string]json.RawMessage
		want string
	}{
		{"k8s", map[string]json.RawMessage{"image": json.RawMessage(`"x:y"`)},
			"the deployment is not valid: job_variables.image: pool k8s does not let deployments set image (it allows: resources, node_selector; wfsh pool set k8s --job-variables ...) (422)"},
		{"k8s", map[string]json.RawMessage{"resources": json.RawMessage(`{"limits":{"memory":"lots"}}`)},
			`job_variables.resources: limits.memory: "lots" is not a quantity`},
		{"default", map[string]json.RawMessage{"resources": json.RawMessage(`{}`)}, "job_variables.resources: pool default does not exist"},
	} {
		err := deployErr(dev, d.Bundle, c.pool, c.vars)
		if status(err) != 422 || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %s: %v, want one line with %q", c.pool, c.vars, err, c.want)
		}
	}
	// A run's claim carries them.
	if err := dev.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	var out []Claimed
	if err := worker.Do(ctx, "POST", "/pools/k8s/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Name: "w", Slots: 1}, Max: 1, WaitMS: 5000}, &out); err != nil || len(out) != 1 {
		t.Fatalf("claim: %+v, %v", out, err)
	}
	if string(out[0].JobVariables) != `{"resources":{"limits":{"memory":"2Gi"}}}` {
		t.Errorf("claimed job variables %s", out[0].JobVariables)
	}
	// The pool's worker reads its pool, template and all.
	var got struct {
		JobTemplate  json.RawMessage `json:"job_template"`
		JobVariables []string        `json:"job_variables"`
	}
	if err := worker.Do(ctx, "GET", "/pools/k8s", nil, &got); err != nil || !strings.Contains(string(got.JobTemplate), `"namespace":"etl"`) {
		t.Errorf("the worker's read: %s, %v", got.JobTemplate, err)
	}
}

// tokenFor makes a worker token of a pool.
func (ts *testServer) tokenFor(t testing.TB, pool string) *Client {
	t.Helper()
	var out NewTokenReply
	if err := ts.admin.Do(context.Background(), "POST", "/tokens", TokenRequest{Name: "worker", Role: string(auth.Worker), Pool: pool}, &out); err != nil {
		t.Fatal(err)
	}
	return &Client{Base: ts.admin.Base, Token: out.Token}
}

// deployErr makes F/nightly (its bundle uploaded by deploy before) in a
// pool with job variables, and says what the server answered.
func deployErr(c *Client, bundle, pool string, vars map[string]json.RawMessage) error {
	return c.Do(context.Background(), "PUT", "/deployments/F/nightly", DeploymentSpec{File: "f.star", Bundle: bundle, Pool: pool, JobVariables: vars}, nil)
}

// TestDeploymentTimeout: the flow's timeout is kept with the deployment
// and handed to the worker with each claim; a worker that says its run
// timed out ends it Failed (not Crashed), with its reason.
func TestDeploymentTimeout(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	dev, worker := ts.token(t, string(auth.Developer)), ts.token(t, string(auth.Worker))
	d := ts.deploy(t, dev, DeploymentSpec{Timeout: "90s"})
	if d.Timeout != 90*time.Second {
		t.Errorf("timeout %v", d.Timeout)
	}
	if err := dev.Do(ctx, "PUT", "/deployments/F/nightly", DeploymentSpec{File: "f.star", Bundle: d.Bundle, Timeout: "soon"}, nil); status(err) != 422 ||
		!strings.Contains(err.Error(), "timeout: want a duration such as 30m") {
		t.Errorf("a bad timeout: %v", err)
	}
	var run store.Run
	if err := dev.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	var out []Claimed
	if err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Name: "w", Slots: 1}, Max: 1, WaitMS: 5000}, &out); err != nil || len(out) != 1 {
		t.Fatalf("claim: %+v, %v", out, err)
	}
	if out[0].TimeoutMS != 90000 {
		t.Errorf("claimed timeout %d ms", out[0].TimeoutMS)
	}
	body := map[string]any{"worker": "w1", "message": "flow run timed out: job stopped at its deadline", "timed_out": true}
	if err := worker.Do(ctx, "POST", "/runs/"+run.ID+"/crash", body, nil); err != nil {
		t.Fatal(err)
	}
	var got RunDetail
	if err := dev.Do(ctx, "GET", "/runs/"+run.ID, nil, &got); err != nil || got.Run.State != runtime.Failed || got.Run.Message != body["message"] {
		t.Errorf("run %s %q, %v; want Failed with the reason", got.Run.State, got.Run.Message, err)
	}
}

// TestCrashReportRetried: a run its worker reports crashed (its process
// or pod ended without a final state) is made again while the
// deployment's crash_retries allow, as a run the reaper crashes is; a
// run reported timed out is Failed and not made again.
func TestCrashReportRetried(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	dev, worker := ts.token(t, string(auth.Developer)), ts.token(t, string(auth.Worker))
	ts.deploy(t, dev, DeploymentSpec{CrashRetries: 1})
	scheduled := func() []store.Run {
		var page RunList
		if err := dev.Do(ctx, "GET", "/runs?state=Scheduled", nil, &page); err != nil {
			t.Fatal(err)
		}
		return page.Runs
	}
	for _, timedOut := range []bool{true, false} {
		var run store.Run
		if err := dev.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
			t.Fatal(err)
		}
		var out []Claimed
		if err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Name: "w", Slots: 1}, Max: 1, WaitMS: 5000}, &out); err != nil || len(out) != 1 || out[0].Run.ID != run.ID {
			t.Fatalf("claim: %+v, %v", out, err)
		}
		body := map[string]any{"worker": "w1", "message": "pod evicted", "timed_out": timedOut}
		if err := worker.Do(ctx, "POST", "/runs/"+run.ID+"/crash", body, nil); err != nil {
			t.Fatal(err)
		}
		again := scheduled()
		if timedOut {
			if len(again) != 0 {
				t.Errorf("a timed-out run was made again: %+v", again)
			}
			continue
		}
		if len(again) != 1 || !strings.Contains(again[0].Message, run.ID) {
			t.Fatalf("the crashed run %s was not made again once: %+v", run.ID, again)
		}
		// The retry crashes too: crash_retries=1 allows no third run.
		if err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Name: "w", Slots: 1}, Max: 1, WaitMS: 5000}, &out); err != nil || len(out) != 1 || out[0].Run.ID != again[0].ID {
			t.Fatalf("claim of the retry: %+v, %v", out, err)
		}
		if err := worker.Do(ctx, "POST", "/runs/"+again[0].ID+"/crash", body, nil); err != nil {
			t.Fatal(err)
		}
		if left := scheduled(); len(left) != 0 {
			t.Errorf("the retry was made again: %+v", left)
		}
	}
}
