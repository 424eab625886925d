package k8spool

import (
	"encoding/json"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

func TestBuildJob(t *testing.T) {
	ttl := int32(60)
	sc := &corev1.SecurityContext{}
	tmpl := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "etl", Labels: map[string]string{"team": "a", LabelRun: "spoofed"}},
		Spec: batchv1.JobSpec{TTLSecondsAfterFinished: &ttl, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "side", Image: "busybox"}, {Name: "wfsh", Image: "reg/wfsh:1", SecurityContext: sc,
				Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "WFSH_TOKEN", Value: "leaked"}}}}}}}}
	cl := server.Claimed{Run: store.Run{ID: "r1", Flow: "F", Context: json.RawMessage(`{"today":"2020-11-30"}`), Server: &store.ServerRun{Crashes: 2}},
		File: "sub/flow.star", Bundle: "abc", Parameters: json.RawMessage(`{"b":2,"a":"x"}`)}
	j := BuildJob(tmpl, JobInput{Claimed: cl, Name: JobName("r1", attempt(cl)), Pool: "p", Worker: "w1", Server: "http://s", Secret: "sec", TTL: 600})
	if j.Name != "wfsh-r1-2" || j.Namespace != "etl" || *j.Spec.BackoffLimit != 0 || *j.Spec.TTLSecondsAfterFinished != 60 {
		t.Errorf("job %s/%s backoff %d ttl %d", j.Namespace, j.Name, *j.Spec.BackoffLimit, *j.Spec.TTLSecondsAfterFinished)
	}
	if j.Labels[LabelRun] != "r1" || j.Labels["team"] != "a" || j.Labels[LabelAttempt] != "2" || j.Spec.Template.Labels[LabelPool] != "p" {
		t.Errorf("labels %v %v", j.Labels, j.Spec.Template.Labels)
	}
	c := j.Spec.Template.Spec.Containers[1]
	if got := strings.Join(c.Args, " "); got != `run sub/flow.star --server-run r1 -p a="x" -p b=2 --context today=2020-11-30` {
		t.Errorf("args %s", got)
	}
	// A run that resumes another: its container reads what it takes.
	cl.Run.ResumedFrom = "r0"
	rj := BuildJob(tmpl, JobInput{Claimed: cl, Name: JobName("r1", attempt(cl)), Pool: "p", Worker: "w1", Server: "http://s", Secret: "sec", TTL: 600})
	if got := strings.Join(rj.Spec.Template.Spec.Containers[1].Args, " "); got != `run sub/flow.star --server-run r1 --resume r0 -p a="x" -p b=2 --context today=2020-11-30` {
		t.Errorf("args of a resuming run %s", got)
	}
	if j.Spec.Template.Spec.Containers[0].Args != nil {
		t.Error("the side container changed")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s twice", e.Name)
		}
		env[e.Name] = e
	}
	if env["A"].Value != "1" || env["WFSH_TOKEN"].Value != "" || env["WFSH_TOKEN"].ValueFrom.SecretKeyRef.Name != "sec" || env["WFSH_BUNDLE"].Value != "abc" {
		t.Errorf("env %v", c.Env)
	}
	if c.SecurityContext == nil || c.SecurityContext.RunAsNonRoot != nil { // the template's (empty), kept
		t.Error("the template's security context was replaced")
	}
	if tmpl.Name != "" || len(tmpl.Spec.Template.Spec.Containers[1].Env) != 2 {
		t.Error("the template changed")
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || len(c.VolumeMounts) != 2 {
		t.Errorf("restart %s mounts %v", j.Spec.Template.Spec.RestartPolicy, c.VolumeMounts)
	}
}

func TestPodStates(t *testing.T) {
	term := func(code int32, reason string) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "wfsh",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}}}
	}
	for _, c := range []struct {
		st    corev1.PodStatus
		end   bool
		crash string
	}{
		{corev1.PodStatus{Phase: corev1.PodRunning}, false, ""},
		{corev1.PodStatus{Phase: corev1.PodSucceeded}, true, ""},
		{term(1, "Error"), true, ""},
		{term(130, "Error"), true, ""},
		{term(2, "Error"), true, "exited with code 2"},
		{term(137, "OOMKilled"), true, "OOMKilled"},
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low memory"}, true, "evicted: low memory"},
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded"}, true, "DeadlineExceeded"},
	} {
		end, crash := podEnded(&corev1.Pod{Status: c.st})
		if end != c.end || (c.crash == "") != (crash == "") || !strings.Contains(crash, c.crash) {
			t.Errorf("%+v: %v %q", c.st, end, crash)
		}
	}
	unsched := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "no node"}}}}
	if r, m := podWaiting(unsched); r != "Unschedulable" || m != "no node" {
		t.Errorf("%s %s", r, m)
	}
	pull := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "wfsh",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}}}
	if r, _ := podWaiting(pull); r != "ErrImagePull" {
		t.Errorf("%s", r)
	}
	creating := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "wfsh",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}}
	if r, _ := podWaiting(creating); r != "" {
		t.Errorf("ContainerCreating: %s", r)
	}
}
