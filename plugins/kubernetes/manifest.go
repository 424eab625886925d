package kubernetes

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Labels and annotations wfsh puts on what it creates, so that
// `kubectl get jobs -l wfsh/flow-run=ID` finds a run's Jobs.
const (
	LabelFlowRun      = "wfsh/flow-run"
	LabelTaskRun      = "wfsh/task-run"
	AnnotationTaskRun = "wfsh/task-run" // the task run's name as it is ("sq[3]")
)

// maxJobName is the longest Job name: the Job controller copies it into
// the job-name label of its pods, and label values stop at 63 characters.
const maxJobName = 63

// decodeJob reads a Job manifest: a dict (from load_yaml or a task) or
// YAML text. Unknown fields are errors, with their path, as kubectl's
// strict validation makes them.
func decodeJob(v any) (*batchv1.Job, error) {
	var raw []byte
	switch b := v.(type) {
	case nil:
		return nil, errors.New("body is None: pass a batch/v1 Job manifest (a dict, e.g. from load_yaml, or YAML text)")
	case string:
		j, err := yaml.YAMLToJSON([]byte(b))
		if err != nil {
			return nil, fmt.Errorf("body: not YAML: %v", err)
		}
		raw = j
	case map[string]any:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("body: %v", err)
		}
		raw = j
	default:
		return nil, fmt.Errorf("body must be a dict or YAML text, got %s", typeName(v))
	}
	var job batchv1.Job
	strict, err := sigsjson.UnmarshalStrict(raw, &job)
	if err != nil {
		return nil, fmt.Errorf("body: not a Job manifest: %v", err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("body: %s", strings.Join(msgs, "; "))
	}
	if job.APIVersion != "" && job.APIVersion != "batch/v1" || job.Kind != "" && job.Kind != "Job" {
		return nil, fmt.Errorf("body is a %s %s: want a batch/v1 Job", job.APIVersion, job.Kind)
	}
	job.APIVersion, job.Kind = "batch/v1", "Job"
	return &job, nil
}

// namespaceFor picks where a Job goes: the namespace argument, else the
// manifest's, else the client's default.
func namespaceFor(arg, manifest string, c *client) string {
	switch {
	case arg != "":
		return arg
	case manifest != "":
		return manifest
	}
	return c.namespace
}

// uniqueName returns base, made a valid name, with a random suffix: the
// children of a mapped task and the reruns of a task each get their own
// Job.
func uniqueName(base string) string {
	base = dnsLabel(base, maxJobName-6)
	if base == "" {
		base = "wfsh-job"
	}
	return base + "-" + randomSuffix(5)
}

// baseName is what a Job's name starts with: the manifest's name or
// generateName, else the task run's name.
func baseName(job *batchv1.Job, taskRun string) string {
	if job.Name != "" {
		return job.Name
	}
	if job.GenerateName != "" {
		return job.GenerateName
	}
	return taskRun
}

// dnsLabel lowercases s and turns what a DNS label may not hold into '-',
// at most max characters.
func dnsLabel(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !ok {
			if b.Len() > 0 && !dash {
				b.WriteByte('-')
				dash = true
			}
			continue
		}
		b.WriteRune(r)
		dash = false
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
	}
	return strings.Trim(out, "-")
}

// labelValue makes s a valid label value: letters, digits, '-', '_', '.',
// starting and ending with a letter or digit, at most 63 characters.
func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.Trim(string(b), "-_.")
}

// tag labels the Job and its pod template with the flow run and task run.
func tag(job *batchv1.Job, flowRun, taskRun string) {
	set := func(m map[string]string) map[string]string {
		if m == nil {
			m = map[string]string{}
		}
		if v := labelValue(flowRun); v != "" {
			m[LabelFlowRun] = v
		}
		if v := labelValue(taskRun); v != "" {
			m[LabelTaskRun] = v
		}
		return m
	}
	job.Labels = set(job.Labels)
	job.Spec.Template.Labels = set(job.Spec.Template.Labels)
	if taskRun != "" {
		if job.Annotations == nil {
			job.Annotations = map[string]string{}
		}
		job.Annotations[AnnotationTaskRun] = taskRun
	}
}

const suffixChars = "bcdfghjklmnpqrstvwxz2456789" // as Kubernetes' generateName: no vowels, no look-alikes

func randomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return string(b)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case string:
		return "string"
	case int64:
		return "int"
	case float64:
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}
