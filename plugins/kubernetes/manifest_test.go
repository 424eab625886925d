package kubernetes

import (
	"regexp"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/wfsh/wfsh/plugins/sdk"
)

func TestDecodeJob(t *testing.T) {
	dict := map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "load", "namespace": "etl"},
		"spec": map[string]any{"backoffLimit": int64(2), "template": map[string]any{"spec": map[string]any{
			"restartPolicy": "Never",
			"containers":    []any{map[string]any{"name": "embulk", "image": "embulk:1", "args": sdk.Tuple{"run", "x.yml"}}},
		}}},
	}
	j, err := decodeJob(dict)
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "load" || j.Namespace != "etl" || *j.Spec.BackoffLimit != 2 || j.Spec.Template.Spec.Containers[0].Args[1] != "x.yml" {
		t.Errorf("decoded %+v", j)
	}
	j, err = decodeJob("kind: Job\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: b}]\n")
	if err != nil || j.APIVersion != "batch/v1" || j.Spec.Template.Spec.Containers[0].Image != "b" {
		t.Errorf("YAML text: %+v, %v", j, err)
	}
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, "body is None: pass a batch/v1 Job manifest"},
		{int64(3), "body must be a dict or YAML text, got int"},
		{map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"contianers": []any{}}}}}, `body: unknown field "spec.template.spec.contianers"`},
		{map[string]any{"apiVersion": "v1", "kind": "Pod"}, "body is a v1 Pod: want a batch/v1 Job"},
		{map[string]any{"spec": map[string]any{"backoffLimit": "two"}}, "body: not a Job manifest"},
		{"a: [", "body: not YAML"},
	} {
		_, err := decodeJob(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decodeJob(%v): %v, want %q", c.in, err, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ base, prefix string }{
		{"load_stations", "load-stations-"},
		{"sq[3]", "sq-3-"},
		{"Load Stations!!", "load-stations-"},
		{"-", "wfsh-job-"},
		{strings.Repeat("a", 100), strings.Repeat("a", 57) + "-"},
	} {
		n := uniqueName(c.base)
		if !strings.HasPrefix(n, c.prefix) || len(n) != len(c.prefix)+5 || len(n) > 63 {
			t.Errorf("uniqueName(%q) = %q, want %s + 5 characters", c.base, n, c.prefix)
		}
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("uniqueName(%q) = %q: %v", c.base, n, errs)
		}
	}
	if uniqueName("x") == uniqueName("x") {
		t.Errorf("two names alike")
	}
	for in, want := range map[string]string{
		"load_stations[12]":     "load_stations-12",
		"7f3c-1a9e":             "7f3c-1a9e",
		"[x]":                   "x",
		"é":                     "",
		strings.Repeat("b", 70): strings.Repeat("b", 63),
	} {
		got := labelValue(in)
		if got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("labelValue(%q) = %q: %v", in, got, errs)
		}
	}
}

func TestPrepareNamesAndTags(t *testing.T) {
	r := &jobRun{job: testJob(), namespace: "etl"}
	r.job.GenerateName = "daily-"
	r.job.ResourceVersion = "12"
	r.prepare("0b7c-run", "load[3]")
	j := r.job
	if !regexp.MustCompile(`^daily-[a-z0-9]{5}$`).MatchString(j.Name) || j.GenerateName != "" || j.Namespace != "etl" || j.ResourceVersion != "" {
		t.Errorf("name %q, generateName %q, namespace %q, rv %q", j.Name, j.GenerateName, j.Namespace, j.ResourceVersion)
	}
	for _, labels := range []map[string]string{j.Labels, j.Spec.Template.Labels} {
		if labels[LabelFlowRun] != "0b7c-run" || labels[LabelTaskRun] != "load-3" {
			t.Errorf("labels %v", labels)
		}
	}
	if j.Annotations[AnnotationTaskRun] != "load[3]" {
		t.Errorf("annotations %v", j.Annotations)
	}
}

func TestParseLevel(t *testing.T) {
	if l, err := parseLevel(nil); l != nil || err != nil {
		t.Errorf("None: %v, %v", l, err)
	}
	if l, err := parseLevel("WARNING"); err != nil || *l != sdk.Warning {
		t.Errorf("WARNING: %v, %v", l, err)
	}
	if _, err := parseLevel("loud"); err == nil || !strings.Contains(err.Error(), `log_level "loud": want debug, info, warning, error or None`) {
		t.Errorf("loud: %v", err)
	}
}

func TestFlowRunJob(t *testing.T) {
	spec := `apiVersion: batch/v1
kind: Job
metadata:
  labels: {team: data}
spec:
  template:
    spec:
      serviceAccountName: etl
      containers:
      - name: sidecar
        image: proxy:1
      - name: wfsh
        command: [tini, --, wfsh]
        env:
        - name: PGPASSWORD
          valueFrom: {secretKeyRef: {name: pg, key: password}}
`
	job, err := flowJobSpec(spec, "job_spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fr := &flowRun{namespace: "etl", job: job}
	fr.cm = flowConfigMap("wfsh-etl-abcde", "etl", map[string][]byte{
		"flows/etl.star": []byte("x = 1\n"), "flows/jobs/a.yaml": []byte("a: 1\n"), "flows/data.bin": {0xff, 0xfe},
	})
	if err := fr.buildJob("wfsh-etl-abcde", "wfsh:1.2", "flows/etl.star", []string{"-p", "day=1"}); err != nil {
		t.Fatal(err)
	}
	ps := job.Spec.Template.Spec
	c := ps.Containers[1]
	if c.Image != "wfsh:1.2" || strings.Join(c.Command, " ") != "tini -- wfsh" || strings.Join(c.Args, " ") != "run /wfsh/flow/flows/etl.star -p day=1" ||
		c.WorkingDir != "/wfsh/flow/flows" {
		t.Errorf("container %+v", c)
	}
	if c.Env[0].ValueFrom.SecretKeyRef.Name != "pg" || ps.ServiceAccountName != "etl" || ps.Containers[0].Image != "proxy:1" || job.Labels["team"] != "data" {
		t.Errorf("the job spec was not kept: %+v", job)
	}
	if ps.RestartPolicy != corev1.RestartPolicyNever || *job.Spec.BackoffLimit != 0 {
		t.Errorf("restartPolicy %q, backoffLimit %d", ps.RestartPolicy, *job.Spec.BackoffLimit)
	}
	v := ps.Volumes[0]
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != FlowDir || v.ConfigMap.Name != "wfsh-etl-abcde" {
		t.Fatalf("volume %+v, mounts %+v", v, c.VolumeMounts)
	}
	var items []string
	for _, it := range v.ConfigMap.Items {
		items = append(items, it.Key+"="+it.Path)
	}
	if got := strings.Join(items, " "); got != "f0=flows/data.bin f1=flows/etl.star f2=flows/jobs/a.yaml" {
		t.Errorf("items %s", got)
	}
	if string(fr.cm.BinaryData["f0"]) != "\xff\xfe" || fr.cm.Data["f1"] != "x = 1\n" {
		t.Errorf("configmap data %v, binary %v", fr.cm.Data, fr.cm.BinaryData)
	}

	// no job spec, no image
	fr = &flowRun{namespace: "etl", job: mustJob(t, nil)}
	fr.cm = flowConfigMap("x", "etl", map[string][]byte{"f.star": nil})
	if err := fr.buildJob("x", "", "f.star", nil); err == nil || !strings.Contains(err.Error(), "pass --image") {
		t.Errorf("no image: %v", err)
	}
	if _, err := flowJobSpec("spec: {templte: {}}", "job_spec.yaml"); err == nil || !strings.HasPrefix(err.Error(), `job_spec.yaml: body: unknown field "spec.templte"`) {
		t.Errorf("a misspelt job spec: %v", err)
	}
}

func mustJob(t *testing.T, v any) *batchv1.Job {
	t.Helper()
	j, err := flowJobSpec(v, "")
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestFlowFiles(t *testing.T) {
	if _, err := flowFiles(map[string]any{"../etc/passwd": "x"}); err == nil || !strings.Contains(err.Error(), "inside the flow's directory") {
		t.Errorf("a path out of the flow's directory: %v", err)
	}
	if _, err := flowFiles(map[string]any{"a.star": int64(1)}); err == nil {
		t.Errorf("a number as content was taken")
	}
	f, err := flowFiles(map[string]any{"./lib/../a.star": "x", "b.bin": []byte{1}})
	if err != nil || string(f["a.star"]) != "x" || len(f["b.bin"]) != 1 {
		t.Errorf("files %v, %v", f, err)
	}
}
