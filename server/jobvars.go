package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/wfsh/wfsh/store"
)

// Job variables are what a deployment may change of its kubernetes
// pool's base Job template for its runs (Prefect's job variables): the
// pool names the ones it allows, `wfsh deploy --job-var KEY=VALUE` sets
// them, the server checks them here when the deployment is made, and the
// worker (k8spool) applies them to each run's Job. The checks need no
// Kubernetes client: the server links none.
//
// Maps (env, labels, annotations, node_selector, resources' requests and
// limits) are merged key by key over the template's; a list
// (tolerations) and a single value replace the template's.
var jobVariables = map[string]func(json.RawMessage) error{
	"image":                      checkImage,
	"image_pull_policy":          checkEnum("Always", "IfNotPresent", "Never"),
	"service_account_name":       checkString(dnsSubdomain, "a DNS subdomain name (lowercase letters, digits, - and .)"),
	"resources":                  checkResources,
	"env":                        checkEnv,
	"node_selector":              checkLabels,
	"tolerations":                checkTolerations,
	"labels":                     checkLabels,
	"annotations":                checkAnnotations,
	"ttl_seconds_after_finished": checkInt(0),
	"active_deadline_seconds":    checkInt(1),
}

// JobVariableNames are the job variables there are, sorted.
func JobVariableNames() []string {
	out := make([]string, 0, len(jobVariables))
	for k := range jobVariables {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckJobVariable checks one job variable's value.
func CheckJobVariable(name string, v json.RawMessage) error {
	check, ok := jobVariables[name]
	if !ok {
		return fmt.Errorf("no job variable %q (there are: %s)", name, strings.Join(JobVariableNames(), ", "))
	}
	return check(v)
}

var (
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// qualifiedName is a label or annotation key: [PREFIX/]NAME.
	qualifiedName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValue    = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
	envName       = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	// quantity is Kubernetes' resource quantity: 2, 500m, 1.5Gi, 1e3.
	quantity = regexp.MustCompile(`^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$`)
)

func decode(v json.RawMessage, out any, want string) error {
	d := json.NewDecoder(bytes.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(out); err != nil {
		return fmt.Errorf("want %s: %s", want, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func checkString(re *regexp.Regexp, want string) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		var s string
		if err := decode(v, &s, "a string"); err != nil {
			return err
		}
		if len(s) > 253 || !re.MatchString(s) {
			return fmt.Errorf("%q is not %s", s, want)
		}
		return nil
	}
}

func checkImage(v json.RawMessage) error {
	var s string
	if err := decode(v, &s, "an image reference such as registry.example.com/wfsh:v1"); err != nil {
		return err
	}
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return fmt.Errorf("%q is not an image reference", s)
	}
	return nil
}

func checkEnum(values ...string) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		var s string
		if err := decode(v, &s, "one of "+strings.Join(values, ", ")); err != nil {
			return err
		}
		for _, ok := range values {
			if s == ok {
				return nil
			}
		}
		return fmt.Errorf("%q: want one of %s", s, strings.Join(values, ", "))
	}
}

func checkInt(min int64) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		var n int64
		if err := decode(v, &n, fmt.Sprintf("a whole number of seconds, at least %d", min)); err != nil {
			return err
		}
		if n < min || n > 1<<31-1 {
			return fmt.Errorf("%d: want a whole number of seconds, at least %d", n, min)
		}
		return nil
	}
}

// JobResources is the resources job variable (a container's requests
// and limits, e.g. {"limits": {"memory": "2Gi"}}).
type JobResources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

func checkResources(v json.RawMessage) error {
	var r JobResources
	if err := decode(v, &r, `{"requests": {"cpu": "500m"}, "limits": {"memory": "2Gi"}}`); err != nil {
		return err
	}
	for _, m := range []struct {
		name string
		q    map[string]string
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		for _, k := range sortedNames(m.q) {
			if !qualifiedName.MatchString(k) {
				return fmt.Errorf("%s: %q is not a resource name", m.name, k)
			}
			if !quantity.MatchString(m.q[k]) {
				return fmt.Errorf("%s.%s: %q is not a quantity (such as 2, 500m, 512Mi, 1.5Gi)", m.name, k, m.q[k])
			}
		}
	}
	return nil
}

// reservedEnv are set by the worker in every run's container.
var reservedEnv = []string{"WFSH_SERVER", "WFSH_TOKEN", "WFSH_RUN_ID", "WFSH_WORKER_ID", "WFSH_BUNDLE", "WFSH_HOME"}

func checkEnv(v json.RawMessage) error {
	var m map[string]string
	if err := decode(v, &m, `an object of names and string values, {"NAME": "value"}`); err != nil {
		return err
	}
	for _, k := range sortedNames(m) {
		if !envName.MatchString(k) {
			return fmt.Errorf("%q is not an environment variable's name", k)
		}
		for _, r := range reservedEnv {
			if k == r {
				return fmt.Errorf("%s is the worker's to set", k)
			}
		}
	}
	return nil
}

func checkLabels(v json.RawMessage) error {
	var m map[string]string
	if err := decode(v, &m, `an object of label keys and string values, {"key": "value"}`); err != nil {
		return err
	}
	for _, k := range sortedNames(m) {
		if !qualifiedName.MatchString(k) {
			return fmt.Errorf("%q is not a label key ([prefix/]name, at most 63 letters, digits, -, _ and . in the name)", k)
		}
		if !labelValue.MatchString(m[k]) {
			return fmt.Errorf("%s: %q is not a label value (at most 63 letters, digits, -, _ and .)", k, m[k])
		}
	}
	return nil
}

func checkAnnotations(v json.RawMessage) error {
	var m map[string]string
	if err := decode(v, &m, `an object of annotation keys and string values`); err != nil {
		return err
	}
	for _, k := range sortedNames(m) {
		if !qualifiedName.MatchString(k) {
			return fmt.Errorf("%q is not an annotation key", k)
		}
	}
	return nil
}

// JobToleration is one of the tolerations job variable, with
// Kubernetes' field names.
type JobToleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

func checkTolerations(v json.RawMessage) error {
	var ts []JobToleration
	if err := decode(v, &ts, `a list of tolerations, [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}]`); err != nil {
		return err
	}
	for i, t := range ts {
		switch {
		case t.Key != "" && !qualifiedName.MatchString(t.Key):
			return fmt.Errorf("[%d].key: %q is not a label key", i, t.Key)
		case t.Operator != "" && t.Operator != "Equal" && t.Operator != "Exists":
			return fmt.Errorf("[%d].operator: %q: want Equal or Exists", i, t.Operator)
		case t.Operator == "Exists" && t.Value != "":
			return fmt.Errorf("[%d]: operator Exists takes no value", i)
		case t.Key == "" && t.Operator != "Exists":
			return fmt.Errorf("[%d]: without a key the operator must be Exists", i)
		case t.Effect != "" && t.Effect != "NoSchedule" && t.Effect != "PreferNoSchedule" && t.Effect != "NoExecute":
			return fmt.Errorf("[%d].effect: %q: want NoSchedule, PreferNoSchedule or NoExecute", i, t.Effect)
		case t.TolerationSeconds != nil && t.Effect != "NoExecute":
			return fmt.Errorf("[%d]: tolerationSeconds needs effect NoExecute", i)
		}
	}
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkJobVariables checks a deployment's job variables against its
// pool: one error per variable, with the variable's name.
func checkJobVariables(pool string, p *store.Pool, vars map[string]json.RawMessage) map[string]error {
	errs := map[string]error{}
	for _, k := range sortedNames(vars) {
		switch {
		case p == nil:
			errs[k] = fmt.Errorf("pool %s does not exist: job variables need a pool of type kubernetes (wfsh pool create %s --type kubernetes)", pool, pool)
		case p.Type != "kubernetes":
			errs[k] = fmt.Errorf("pool %s is of type %s: job variables are for a pool of type kubernetes", pool, p.Type)
		case !slices.Contains(p.JobVariables, k):
			allowed := "none"
			if len(p.JobVariables) > 0 {
				allowed = strings.Join(p.JobVariables, ", ")
			}
			errs[k] = fmt.Errorf("pool %s does not let deployments set %s (it allows: %s; wfsh pool set %s --job-variables ...)", pool, k, allowed, pool)
		default:
			if err := CheckJobVariable(k, vars[k]); err != nil {
				errs[k] = err
			}
		}
	}
	return errs
}

// CheckJobTemplate checks the shape of a pool's base Job template as far
// as the server can without a Kubernetes client: a JSON object that is a
// batch/v1 Job (if it says), with a namespace that is a DNS label (if it
// gives one) and a container named wfsh, or a first one, with an image.
// Every field is checked by the worker when it makes a Job of it.
func CheckJobTemplate(t json.RawMessage) error {
	var j struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name  string `json:"name"`
						Image string `json:"image"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(t, &j); err != nil {
		return fmt.Errorf("want a batch/v1 Job manifest: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if (j.APIVersion != "" && j.APIVersion != "batch/v1") || (j.Kind != "" && j.Kind != "Job") {
		return fmt.Errorf("want a batch/v1 Job, not %s %s", j.APIVersion, j.Kind)
	}
	if ns := j.Metadata.Namespace; ns != "" && !dnsLabel.MatchString(ns) {
		return fmt.Errorf("metadata.namespace: %q is not a namespace's name", ns)
	}
	cs := j.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		return fmt.Errorf(`spec.template.spec.containers: none (want one named "wfsh" with the wfsh image)`)
	}
	c := cs[0]
	for _, x := range cs {
		if x.Name == "wfsh" {
			c = x
		}
	}
	if c.Image == "" {
		return fmt.Errorf("spec.template.spec.containers: container %q has no image", c.Name)
	}
	return nil
}
