package k8spool

import (
	"fmt"
	"os"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/wfsh/wfsh/server"
)

// The run's container and what the worker gives it.
const (
	Container = "wfsh"          // the container the worker fills in (else the first)
	SecretKey = "token"         // the key of the run's Secret that holds its token
	WorkerKey = "worker"        // and the one that holds the id of the worker holding the run
	HomeDir   = "/var/lib/wfsh" // WFSH_HOME in the pod: an emptyDir (bundles)
)

// LoadTemplate reads a pool's base Job template: a batch/v1 Job manifest
// (YAML or JSON) whose metadata.namespace is where the Jobs go (default
// "default") and whose container named wfsh (or first container) names the
// image. Unknown fields are errors.
func LoadTemplate(path string) (*batchv1.Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(data, &j); err != nil {
		return nil, fmt.Errorf("job template %s: %w", path, err)
	}
	if j.Namespace == "" {
		j.Namespace = "default"
	}
	if err := checkTemplate(&j); err != nil {
		return nil, fmt.Errorf("job template %s: %w", path, err)
	}
	return &j, nil
}

func checkTemplate(j *batchv1.Job) error {
	if j == nil {
		return fmt.Errorf("no job template")
	}
	if j.Namespace == "" {
		return fmt.Errorf("no namespace")
	}
	cs := j.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		return fmt.Errorf("spec.template.spec.containers: none (want one named %q with the wfsh image)", Container)
	}
	if cs[containerIndex(cs)].Image == "" {
		return fmt.Errorf("container %q: no image", cs[containerIndex(cs)].Name)
	}
	return nil
}

func containerIndex(cs []corev1.Container) int {
	for i, c := range cs {
		if c.Name == Container {
			return i
		}
	}
	return 0
}

// JobInput is what one run's Job is made of besides the template.
type JobInput struct {
	Claimed server.Claimed
	Name    string // JobName
	Pool    string
	Worker  string
	Server  string // the URL the pod reports to
	Secret  string // the Secret with the token (key SecretKey)
	TTL     int32
	Margin  time.Duration // added to the flow's timeout for the Job's deadline
}

// BuildJob makes a run's Job from the pool's template. What the worker
// owns it sets whatever the template says: the name and namespace,
// backoffLimit 0 (wfsh owns retries), restartPolicy Never,
// ttlSecondsAfterFinished (unless the template sets it), the labels, and
// in the run's container the arguments (`run FILE --server-run ID -p ...
// --context ...`) and the environment wfsh reads (WFSH_SERVER,
// WFSH_TOKEN from the run's Secret, WFSH_RUN_ID, WFSH_WORKER_ID,
// WFSH_BUNDLE, WFSH_HOME). The rest of the template stays as written:
// image, service account, resources, env, node selector, tolerations,
// other containers. activeDeadlineSeconds is the template's, or the
// flow's timeout plus DeadlineMargin if that is sooner. Without a securityContext, the
// container gets a restricted one (non-root, read-only root filesystem,
// no privilege escalation, no capabilities) and an emptyDir for WFSH_HOME
// and one for /tmp.
func BuildJob(tmpl *batchv1.Job, in JobInput) *batchv1.Job {
	j := tmpl.DeepCopy()
	cl := in.Claimed
	j.Name, j.GenerateName = in.Name, ""
	j.ResourceVersion, j.UID = "", ""
	lb := map[string]string{LabelRun: cl.Run.ID, LabelPool: in.Pool, LabelAttempt: strconv.Itoa(attempt(cl)), LabelManaged: "wfsh"}
	j.Labels = merge(j.Labels, lb)
	j.Annotations = merge(j.Annotations, map[string]string{AnnoFlow: cl.Run.Flow, AnnoWorker: in.Worker})
	spec := &j.Spec
	zero := int32(0)
	spec.BackoffLimit = &zero
	if spec.TTLSecondsAfterFinished == nil {
		ttl := in.TTL
		spec.TTLSecondsAfterFinished = &ttl
	}
	if d, ok := FlowDeadline(cl, in.Margin); ok && (spec.ActiveDeadlineSeconds == nil || *spec.ActiveDeadlineSeconds > d) {
		spec.ActiveDeadlineSeconds = &d
	}
	pt := &spec.Template
	pt.Labels = merge(pt.Labels, lb)
	pt.Spec.RestartPolicy = corev1.RestartPolicyNever
	if pt.Spec.ServiceAccountName == "" {
		f := false
		pt.Spec.AutomountServiceAccountToken = &f // the run reports to wfsh, not to the cluster
	}
	i := containerIndex(pt.Spec.Containers)
	c := &pt.Spec.Containers[i]
	if c.Name == "" {
		c.Name = Container
	}
	if len(c.Command) == 0 {
		c.Command = []string{"wfsh"}
	}
	c.Args = cl.RunArgs(cl.File)
	c.Env = append(dropEnv(c.Env),
		corev1.EnvVar{Name: "WFSH_SERVER", Value: in.Server},
		corev1.EnvVar{Name: "WFSH_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: in.Secret}, Key: SecretKey}}},
		corev1.EnvVar{Name: "WFSH_RUN_ID", Value: cl.Run.ID},
		corev1.EnvVar{Name: "WFSH_WORKER_ID", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: in.Secret}, Key: WorkerKey}}},
		corev1.EnvVar{Name: "WFSH_BUNDLE", Value: cl.Bundle},
		corev1.EnvVar{Name: "WFSH_HOME", Value: HomeDir},
	)
	if c.SecurityContext == nil {
		t, f := true, false
		uid := int64(10001)
		c.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: &t, RunAsUser: &uid, ReadOnlyRootFilesystem: &t,
			AllowPrivilegeEscalation: &f, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	}
	mountEmpty(&pt.Spec, c, "wfsh-home", HomeDir)
	mountEmpty(&pt.Spec, c, "wfsh-tmp", "/tmp")
	return j
}

// DeadlineMargin is what a Job's activeDeadlineSeconds adds to its
// flow's timeout by default (--deadline-margin): the deadline counts
// from the Job's start, so it covers the pod's scheduling, image pull and
// bundle fetch too, and the flow's own timeout (which counts from wfsh's
// start in the pod) should end the run first, as Failed with its own
// message; the deadline is the backstop for a pod that hangs.
const DeadlineMargin = 60 * time.Second

// FlowDeadline is the activeDeadlineSeconds of a run's Job: its flow's
// timeout plus margin, rounded up to a second; ok is false when the flow
// has none.
func FlowDeadline(cl server.Claimed, margin time.Duration) (int64, bool) {
	if cl.TimeoutMS <= 0 {
		return 0, false
	}
	d := time.Duration(cl.TimeoutMS)*time.Millisecond + margin
	return int64((d + time.Second - 1) / time.Second), true
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// dropEnv removes the variables the worker sets from a template's.
func dropEnv(env []corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range env {
		switch e.Name {
		case "WFSH_SERVER", "WFSH_TOKEN", "WFSH_RUN_ID", "WFSH_WORKER_ID", "WFSH_BUNDLE", "WFSH_HOME":
			continue
		}
		out = append(out, e)
	}
	return out
}

// mountEmpty mounts an emptyDir at path in c, unless c mounts something
// there already.
func mountEmpty(ps *corev1.PodSpec, c *corev1.Container, name, path string) {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return
		}
	}
	ps.Volumes = append(ps.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: path})
}
