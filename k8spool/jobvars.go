package k8spool

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/wfsh/wfsh/server"
)

// Pool is what the worker reads of its pool (GET /pools/{pool}).
type Pool struct {
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	JobTemplate  json.RawMessage `json:"job_template"`
	JobVariables []string        `json:"job_variables"`
}

// PoolTemplate is a pool's base Job as the server keeps it, checked as
// LoadTemplate checks a file's (unknown fields are errors).
func PoolTemplate(p *Pool) (*batchv1.Job, error) {
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(p.JobTemplate, &j); err != nil {
		return nil, fmt.Errorf("pool %s's job template: %w", p.Name, err)
	}
	if j.Namespace == "" {
		j.Namespace = "default"
	}
	if err := checkTemplate(&j); err != nil {
		return nil, fmt.Errorf("pool %s's job template: %w", p.Name, err)
	}
	return &j, nil
}

// ApplyJobVariables returns a copy of the template with a deployment's
// job variables (a JSON object) applied, each checked again against what
// the pool allows now (it may have changed since the deployment). Maps
// are merged key by key over the template's, lists and single values
// replace it (server/jobvars.go).
func ApplyJobVariables(tmpl *batchv1.Job, pool *Pool, raw json.RawMessage) (*batchv1.Job, error) {
	j := tmpl.DeepCopy()
	if len(raw) == 0 {
		return j, nil
	}
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(raw, &vars); err != nil {
		return nil, fmt.Errorf("job variables: %w", err)
	}
	ps := &j.Spec.Template.Spec
	c := &ps.Containers[containerIndex(ps.Containers)]
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if !slices.Contains(pool.JobVariables, k) {
			return nil, fmt.Errorf("job variable %s: pool %s no longer lets deployments set it", k, pool.Name)
		}
		if err := server.CheckJobVariable(k, vars[k]); err != nil {
			return nil, fmt.Errorf("job variable %s: %w", k, err)
		}
		if err := applyVariable(j, ps, c, k, vars[k]); err != nil {
			return nil, fmt.Errorf("job variable %s: %w", k, err)
		}
	}
	return j, nil
}

func applyVariable(j *batchv1.Job, ps *corev1.PodSpec, c *corev1.Container, k string, v json.RawMessage) error {
	var err error
	switch k {
	case "image":
		err = json.Unmarshal(v, &c.Image)
	case "image_pull_policy":
		err = json.Unmarshal(v, &c.ImagePullPolicy)
	case "service_account_name":
		err = json.Unmarshal(v, &ps.ServiceAccountName)
	case "resources":
		err = applyResources(&c.Resources, v)
	case "env":
		err = applyEnv(c, v)
	case "node_selector":
		ps.NodeSelector, err = mergeJSON(ps.NodeSelector, v)
	case "tolerations":
		ps.Tolerations = nil
		err = json.Unmarshal(v, &ps.Tolerations)
	case "labels":
		if j.Labels, err = mergeJSON(j.Labels, v); err == nil {
			j.Spec.Template.Labels, err = mergeJSON(j.Spec.Template.Labels, v)
		}
	case "annotations":
		if j.Annotations, err = mergeJSON(j.Annotations, v); err == nil {
			j.Spec.Template.Annotations, err = mergeJSON(j.Spec.Template.Annotations, v)
		}
	case "ttl_seconds_after_finished":
		err = json.Unmarshal(v, &j.Spec.TTLSecondsAfterFinished)
	case "active_deadline_seconds":
		err = json.Unmarshal(v, &j.Spec.ActiveDeadlineSeconds)
	default:
		err = fmt.Errorf("this worker does not know it (an older wfsh-worker-kubernetes than the server?)")
	}
	return err
}

func mergeJSON(into map[string]string, v json.RawMessage) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil {
		return into, err
	}
	return merge(into, m), nil
}

func applyResources(r *corev1.ResourceRequirements, v json.RawMessage) error {
	var jr server.JobResources
	if err := json.Unmarshal(v, &jr); err != nil {
		return err
	}
	for _, m := range []struct {
		from map[string]string
		into *corev1.ResourceList
	}{{jr.Requests, &r.Requests}, {jr.Limits, &r.Limits}} {
		for name, q := range m.from {
			qty, err := resource.ParseQuantity(q)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if *m.into == nil {
				*m.into = corev1.ResourceList{}
			}
			(*m.into)[corev1.ResourceName(name)] = qty
		}
	}
	return nil
}

// applyEnv sets the variables in the container, replacing one the
// template sets of the same name.
func applyEnv(c *corev1.Container, v json.RawMessage) error {
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == k })
		if i < 0 {
			c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: m[k]})
			continue
		}
		c.Env[i] = corev1.EnvVar{Name: k, Value: m[k]}
	}
	return nil
}
