package k8spool

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// TestApplyJobVariables: maps merged key by key over the template's,
// lists and single values replaced, the template itself unchanged, and a
// variable the pool no longer allows refused.
func TestApplyJobVariables(t *testing.T) {
	tmpl := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "etl", Labels: map[string]string{"team": "a"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"type": "kwok"},
			Tolerations:  []corev1.Toleration{{Key: "old", Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{Name: "side", Image: "busybox"}, {Name: "wfsh", Image: "reg/wfsh:1",
				Env:       []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("1")}}}}}}}}
	all := &Pool{Name: "k8s", JobVariables: []string{"image", "resources", "env", "node_selector", "tolerations", "labels", "ttl_seconds_after_finished", "active_deadline_seconds"}}
	vars := json.RawMessage(`{"image": "reg/wfsh:2", "resources": {"limits": {"memory": "2Gi"}, "requests": {"cpu": "250m"}},
		"env": {"B": "two", "C": "3"}, "node_selector": {"disk": "ssd"}, "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
		"labels": {"cost": "etl"}, "ttl_seconds_after_finished": 60, "active_deadline_seconds": 3600}`)
	j, err := ApplyJobVariables(tmpl, all, vars)
	if err != nil {
		t.Fatal(err)
	}
	ps := j.Spec.Template.Spec
	c := ps.Containers[1]
	if c.Image != "reg/wfsh:2" || ps.Containers[0].Image != "busybox" {
		t.Errorf("images %s %s", c.Image, ps.Containers[0].Image)
	}
	if c.Resources.Limits.Memory().String() != "2Gi" || c.Resources.Limits.Cpu().String() != "1" || c.Resources.Requests.Cpu().String() != "250m" {
		t.Errorf("resources %v", c.Resources)
	}
	if got := envString(c.Env); got != "A=1 B=two C=3" {
		t.Errorf("env %s", got)
	}
	if ps.NodeSelector["type"] != "kwok" || ps.NodeSelector["disk"] != "ssd" {
		t.Errorf("node selector %v", ps.NodeSelector)
	}
	if len(ps.Tolerations) != 1 || ps.Tolerations[0].Key != "gpu" || ps.Tolerations[0].Effect != corev1.TaintEffectNoSchedule {
		t.Errorf("tolerations %v", ps.Tolerations)
	}
	if j.Labels["team"] != "a" || j.Labels["cost"] != "etl" || j.Spec.Template.Labels["cost"] != "etl" {
		t.Errorf("labels %v %v", j.Labels, j.Spec.Template.Labels)
	}
	if *j.Spec.TTLSecondsAfterFinished != 60 || *j.Spec.ActiveDeadlineSeconds != 3600 {
		t.Errorf("ttl %d deadline %d", *j.Spec.TTLSecondsAfterFinished, *j.Spec.ActiveDeadlineSeconds)
	}
	// The template is as it was.
	tc := tmpl.Spec.Template.Spec.Containers[1]
	if tc.Image != "reg/wfsh:1" || tc.Resources.Limits.Memory().String() != "64Mi" || envString(tc.Env) != "A=1 B=2" || len(tmpl.Spec.Template.Spec.NodeSelector) != 1 {
		t.Errorf("the template changed: %+v", tmpl.Spec.Template.Spec)
	}
	// None: the template's copy.
	if j, err := ApplyJobVariables(tmpl, all, nil); err != nil || j.Spec.Template.Spec.Containers[1].Image != "reg/wfsh:1" {
		t.Errorf("no variables: %v", err)
	}
	// The pool allows fewer now, or the value went bad.
	some := &Pool{Name: "k8s", JobVariables: []string{"resources"}}
	for _, c := range []struct{ vars, want string }{
		{`{"image": "x:y"}`, "job variable image: pool k8s no longer lets deployments set it"},
		{`{"resources": {"limits": {"memory": "lots"}}}`, `job variable resources: limits.memory: "lots" is not a quantity`},
	} {
		if _, err := ApplyJobVariables(tmpl, some, json.RawMessage(c.vars)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.vars, err, c.want)
		}
	}
}

func envString(env []corev1.EnvVar) string {
	var s []string
	for _, e := range env {
		s = append(s, e.Name+"="+e.Value)
	}
	return strings.Join(s, " ")
}

// TestPoolTemplate: the server's template is checked as a file's.
func TestPoolTemplate(t *testing.T) {
	p := &Pool{Name: "k8s", JobTemplate: json.RawMessage(`{"spec":{"template":{"spec":{"containers":[{"name":"wfsh","image":"w:1"}]}}}}`)}
	j, err := PoolTemplate(p)
	if err != nil || j.Namespace != "default" || j.Spec.Template.Spec.Containers[0].Image != "w:1" {
		t.Fatalf("%+v, %v", j, err)
	}
	p.JobTemplate = json.RawMessage(`{"spec":{"template":{"spec":{"containers":[{"name":"wfsh","image":"w:1","imagePullPolcy":"Always"}]}}}}`)
	if _, err := PoolTemplate(p); err == nil || !strings.Contains(err.Error(), `pool k8s's job template`) || !strings.Contains(err.Error(), "imagePullPolcy") {
		t.Errorf("a misspelt field: %v", err)
	}
}

// TestFlowDeadline: the Job's activeDeadlineSeconds is the flow's
// timeout plus the margin, rounded up, unless the template's is sooner.
func TestFlowDeadline(t *testing.T) {
	cl := server.Claimed{TimeoutMS: 1500}
	if d, ok := FlowDeadline(cl, time.Minute); !ok || d != 62 {
		t.Errorf("1.5s + 1m: %d %v, want 62", d, ok)
	}
	if _, ok := FlowDeadline(server.Claimed{}, time.Minute); ok {
		t.Error("no timeout: a deadline")
	}
	tmpl := &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "wfsh", Image: "w:1"}}}}}}
	in := JobInput{Claimed: server.Claimed{Run: store.Run{ID: "r"}, TimeoutMS: 30_000}, Name: "j", Margin: 5 * time.Second}
	if j := BuildJob(tmpl, in); j.Spec.ActiveDeadlineSeconds == nil || *j.Spec.ActiveDeadlineSeconds != 35 {
		t.Errorf("deadline %v, want 35", j.Spec.ActiveDeadlineSeconds)
	}
	for _, c := range []struct{ tmpl, want int64 }{{10, 10}, {3600, 35}} {
		tmpl.Spec.ActiveDeadlineSeconds = &c.tmpl
		if j := BuildJob(tmpl, in); *j.Spec.ActiveDeadlineSeconds != c.want {
			t.Errorf("template's %d: %d, want %d", c.tmpl, *j.Spec.ActiveDeadlineSeconds, c.want)
		}
	}
	in.Claimed.TimeoutMS = 0
	if j := BuildJob(tmpl, in); *j.Spec.ActiveDeadlineSeconds != 3600 {
		t.Errorf("no flow timeout: %d, want the template's", *j.Spec.ActiveDeadlineSeconds)
	}
}
