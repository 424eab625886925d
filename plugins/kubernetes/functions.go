package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// maxLogBytes bounds what read_namespaced_pod_logs returns.
const maxLogBytes = 64 << 20

// createJob is create_namespaced_job: the manifest as it is (its name or
// generateName), labelled with the flow run and task run.
func (p *plugin) createJob(ctx context.Context, c *sdk.Call) (any, error) {
	cl, err := p.client(ctx, c)
	if err != nil {
		return nil, err
	}
	job, err := decodeJob(c.Args["body"])
	if err != nil {
		return nil, err
	}
	if job.Name == "" && job.GenerateName == "" {
		return nil, fmt.Errorf("create_namespaced_job: the manifest has neither metadata.name nor metadata.generateName")
	}
	ns := namespaceFor(c.String("namespace"), job.Namespace, cl)
	job.Namespace = ns
	tag(job, c.FlowRun, c.TaskRun)
	created, err := cl.cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create job %s/%s: %v", ns, job.Name+job.GenerateName, apiMessage(err))
	}
	c.Logf("created job %s/%s", ns, created.Name)
	created.APIVersion, created.Kind = "batch/v1", "Job"
	return toValue(created)
}

// deleteJob is delete_namespaced_job.
func (p *plugin) deleteJob(ctx context.Context, c *sdk.Call) (any, error) {
	cl, err := p.client(ctx, c)
	if err != nil {
		return nil, err
	}
	name := c.String("name")
	if name == "" {
		return nil, fmt.Errorf("delete_namespaced_job: name must be a non-empty string")
	}
	policy := metav1.DeletionPropagation(c.String("propagation_policy"))
	switch policy {
	case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
	default:
		return nil, fmt.Errorf("delete_namespaced_job: propagation_policy %q: want Background, Foreground or Orphan", policy)
	}
	ns := namespaceFor(c.String("namespace"), "", cl)
	err = cl.cs.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) && c.Bool("ignore_not_found") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delete job %s/%s: %v", ns, name, apiMessage(err))
	}
	c.Logf("deleted job %s/%s", ns, name)
	return nil, nil
}

// readPodLogs is read_namespaced_pod_logs.
func (p *plugin) readPodLogs(ctx context.Context, c *sdk.Call) (any, error) {
	cl, err := p.client(ctx, c)
	if err != nil {
		return nil, err
	}
	name := c.String("name")
	if name == "" {
		return nil, fmt.Errorf("read_namespaced_pod_logs: name must be a non-empty string")
	}
	ns := namespaceFor(c.String("namespace"), "", cl)
	opts := &corev1.PodLogOptions{Container: c.String("container")}
	if v := c.Args["tail_lines"]; v != nil {
		n, ok := v.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("read_namespaced_pod_logs: tail_lines must be a number of lines, got %v", v)
		}
		opts.TailLines = &n
	}
	rc, err := cl.cs.CoreV1().Pods(ns).GetLogs(name, opts).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("logs of pod %s/%s: %v", ns, name, apiMessage(err))
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLogBytes+1))
	if err != nil {
		return nil, fmt.Errorf("logs of pod %s/%s: %v", ns, name, err)
	}
	if len(b) > maxLogBytes {
		return nil, fmt.Errorf("logs of pod %s/%s are over %d MiB: pass tail_lines", ns, name, maxLogBytes>>20)
	}
	return string(b), nil
}

// toValue turns an API object into the JSON-like value a task gets: a
// dict as `kubectl get -o json` prints it, with whole numbers as ints.
func toValue(obj any) (any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

// numbers turns the json.Numbers of a decoded value into int64 or
// float64, as Starlark would have them.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
