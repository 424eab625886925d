package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// The flow run in the cluster: its files are mounted from a ConfigMap at
// FlowDir, and the container runs `wfsh run FlowDir/FILE ARGS...`.
const (
	FlowDir         = "/wfsh/flow"
	flowVolume      = "wfsh-flow"
	flowContainer   = "wfsh"
	LabelFlow       = "wfsh/flow"
	maxConfigMapLen = 1 << 20 // what the API server accepts in one ConfigMap, about
)

// FlowRunResult is what submit_flow_run returns; `wfsh run --on
// kubernetes` exits with ExitCode.
type FlowRunResult struct {
	Job, Namespace, Status string
	ExitCode               int64
}

// The runner tells its own notes from the flow run's log lines by level:
// the lines of the wfsh container's log come at Info, the runner's notes
// at Warning or Error (`wfsh run --on kubernetes` prints them on stderr),
// details at Debug.

func (p *plugin) submitFlowRun(ctx context.Context, c *sdk.Call) (any, error) {
	pending.Add(1)
	defer pending.Done()
	cl, err := p.client(ctx, c)
	if err != nil {
		return nil, err
	}
	fr, err := newFlowRun(c, cl)
	if err != nil {
		return nil, err
	}
	return fr.run(ctx, c.Bool("follow"))
}

// flowRun is a flow run submitted as a Job.
type flowRun struct {
	cl        *client
	namespace string
	job       *batchv1.Job
	cm        *corev1.ConfigMap
	delete    bool
	log       logFunc
	base      string // the names before their random suffix
}

func newFlowRun(c *sdk.Call, cl *client) (*flowRun, error) {
	job, err := flowJobSpec(c.Args["job_spec"], c.String("job_spec_path"))
	if err != nil {
		return nil, err
	}
	files, err := flowFiles(c.Args["files"])
	if err != nil {
		return nil, err
	}
	flowFile := c.String("flow_file")
	if _, ok := files[flowFile]; !ok {
		return nil, fmt.Errorf("submit_flow_run: flow_file %q is not among the files", flowFile)
	}
	args, err := stringList(c.Args["args"])
	if err != nil {
		return nil, fmt.Errorf("submit_flow_run: args: %v", err)
	}
	fr := &flowRun{cl: cl, job: job, delete: c.Bool("delete_job_after_completion"), log: callLog(c)}
	fr.namespace = namespaceFor(c.String("namespace"), job.Namespace, cl)
	fr.base = flowBase(job, c.String("flow_name"))
	name := uniqueName(fr.base)
	fr.cm = flowConfigMap(name, fr.namespace, files)
	if err := fr.buildJob(name, c.String("image"), flowFile, args); err != nil {
		return nil, err
	}
	tag(job, c.FlowRun, "")
	if fn := labelValue(c.String("flow_name")); fn != "" {
		job.Labels[LabelFlow] = fn
		job.Spec.Template.Labels[LabelFlow] = fn
	}
	fr.cm.Labels = map[string]string{}
	for k, v := range job.Labels {
		fr.cm.Labels[k] = v
	}
	return fr, nil
}

func flowBase(job *batchv1.Job, flowName string) string {
	if job.Name != "" {
		return job.Name
	}
	if job.GenerateName != "" {
		return job.GenerateName
	}
	return "wfsh-" + flowName
}

// flowJobSpec reads the --job-spec manifest, or makes the default one.
func flowJobSpec(v any, where string) (*batchv1.Job, error) {
	if v == nil {
		return &batchv1.Job{}, nil
	}
	job, err := decodeJob(v)
	if err != nil {
		if where != "" {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		return nil, err
	}
	return job, nil
}

// buildJob fills the Job in: the wfsh container runs the flow file from
// the ConfigMap's volume. What the job spec says otherwise (resources,
// env from Secrets, service account, node selector...) is kept as it is.
func (fr *flowRun) buildJob(name, image, flowFile string, args []string) error {
	job := fr.job
	job.Name, job.GenerateName, job.Namespace, job.ResourceVersion = name, "", fr.namespace, ""
	spec := &job.Spec.Template.Spec
	ctr := wfshContainer(spec)
	if image != "" {
		ctr.Image = image
	}
	if ctr.Image == "" {
		return errors.New("no image to run the flow in: pass --image, or set the container's image in the job spec")
	}
	if len(ctr.Command) == 0 {
		ctr.Command = []string{"wfsh"}
	}
	ctr.Args = append([]string{"run", path.Join(FlowDir, flowFile)}, args...)
	if ctr.WorkingDir == "" {
		ctr.WorkingDir = path.Join(FlowDir, path.Dir(flowFile))
	}
	ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: flowVolume, MountPath: FlowDir, ReadOnly: true})
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: flowVolume, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: fr.cm.Name}, Items: configMapItems(fr.cm)},
	}})
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyNever
	}
	if job.Spec.BackoffLimit == nil {
		// the flow has its own retries: a failed run is not run again
		zero := int32(0)
		job.Spec.BackoffLimit = &zero
	}
	return nil
}

// wfshContainer returns the container named wfsh, else the first one, else
// a new one named wfsh.
func wfshContainer(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == flowContainer {
			return &spec.Containers[i]
		}
	}
	if len(spec.Containers) == 0 {
		spec.Containers = append(spec.Containers, corev1.Container{Name: flowContainer})
	}
	return &spec.Containers[0]
}

// flowFiles reads the files argument: relative paths to contents.
func flowFiles(v any) (map[string][]byte, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, fmt.Errorf("submit_flow_run: files must be a dict of path to content, got %s", typeName(v))
	}
	out := map[string][]byte{}
	for p, c := range m {
		clean := path.Clean(p)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || clean == "." {
			return nil, fmt.Errorf("submit_flow_run: file %q: want a path inside the flow's directory", p)
		}
		switch b := c.(type) {
		case string:
			out[clean] = []byte(b)
		case []byte:
			out[clean] = b
		default:
			return nil, fmt.Errorf("submit_flow_run: file %q: content must be a string or bytes, got %s", p, typeName(c))
		}
	}
	return out, nil
}

// flowConfigMap holds the files under keys f0, f1, ... (a key may not hold
// a '/'); the volume's items put each back at its path.
func flowConfigMap(name, ns string, files map[string][]byte) *corev1.ConfigMap {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{}}}
	for i, p := range paths {
		key := fmt.Sprintf("f%d", i)
		if b := files[p]; utf8.Valid(b) {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[key] = string(b)
		} else {
			if cm.BinaryData == nil {
				cm.BinaryData = map[string][]byte{}
			}
			cm.BinaryData[key] = b
		}
		cm.Annotations["wfsh/file."+key] = p
	}
	return cm
}

func configMapItems(cm *corev1.ConfigMap) []corev1.KeyToPath {
	var items []corev1.KeyToPath
	for k, p := range cm.Annotations {
		if key, ok := strings.CutPrefix(k, "wfsh/file."); ok {
			items = append(items, corev1.KeyToPath{Key: key, Path: p})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	return items
}

func configMapSize(cm *corev1.ConfigMap) int {
	n := 0
	for _, v := range cm.Data {
		n += len(v)
	}
	for _, v := range cm.BinaryData {
		n += len(v)
	}
	return n
}

func stringList(v any) ([]string, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		list = x
	case sdk.Tuple:
		list = x
	default:
		return nil, fmt.Errorf("want a list of strings, got %s", typeName(v))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("element %d: want a string, got %s", i, typeName(e))
		}
		out[i] = s
	}
	return out, nil
}

// run creates the ConfigMap and the Job, makes the Job own the ConfigMap
// (deleting the Job deletes it), and follows the Job when asked.
func (fr *flowRun) run(ctx context.Context, follow bool) (any, error) {
	if n := configMapSize(fr.cm); n > maxConfigMapLen {
		return nil, fmt.Errorf("the flow's files hold %d bytes; a ConfigMap holds at most 1 MiB: move data out of the flow's directory", n)
	}
	cms := fr.cl.cs.CoreV1().ConfigMaps(fr.namespace)
	if _, err := cms.Create(ctx, fr.cm, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create configmap %s/%s: %v", fr.namespace, fr.cm.Name, apiMessage(err))
	}
	r := &jobRun{cs: fr.cl, job: fr.job, namespace: fr.namespace, delete: fr.delete, log: fr.log, base: fr.base}
	job, err := r.create(ctx)
	if err != nil {
		fr.deleteConfigMap(context.WithoutCancel(ctx))
		return nil, err
	}
	fr.own(ctx, job)
	ref := fr.namespace + "/" + job.Name
	fr.log(sdk.Warning, fmt.Sprintf("submitted the flow run as job %s (configmap %s)", ref, fr.cm.Name))
	if !follow {
		return map[string]any{"job": job.Name, "namespace": fr.namespace, "status": "Created", "exit_code": int64(0)}, nil
	}
	level := sdk.Info
	logs := newPodLogs(fr.cl, fr.namespace, job, &level, fr.log)
	logs.prefix = false
	logs.start(ctx)
	final, err := r.wait(ctx, job)
	if err != nil {
		logs.stop()
		if !errors.Is(err, errJobDeleted) {
			r.abandon(ctx, job)
		}
		if ctx.Err() != nil || fr.delete {
			fr.deleteConfigMap(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	finishCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	pods := logs.finish(finishCtx)
	cancel()
	res := flowRunResult(final, pods)
	if fr.delete {
		if err := r.deleteJob(ctx, job.Name); err != nil {
			fr.log(sdk.Error, err.Error())
		}
		fr.deleteConfigMap(ctx)
	}
	return map[string]any{"job": res.Job, "namespace": res.Namespace, "status": res.Status, "exit_code": res.ExitCode}, nil
}

// own makes the Job the ConfigMap's owner, so that the garbage collector
// deletes the ConfigMap with the Job, however the Job is deleted.
func (fr *flowRun) own(ctx context.Context, job *batchv1.Job) {
	patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":%q,"uid":%q}]}}`, job.Name, job.UID)
	_, err := fr.cl.cs.CoreV1().ConfigMaps(fr.namespace).Patch(ctx, fr.cm.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		fr.log(sdk.Warning, fmt.Sprintf("configmap %s/%s will not be deleted with the job: %v", fr.namespace, fr.cm.Name, apiMessage(err)))
	}
}

func (fr *flowRun) deleteConfigMap(ctx context.Context) {
	err := fr.cl.cs.CoreV1().ConfigMaps(fr.namespace).Delete(ctx, fr.cm.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		fr.log(sdk.Warning, fmt.Sprintf("delete configmap %s/%s: %v", fr.namespace, fr.cm.Name, apiMessage(err)))
	}
}

// flowRunResult reads how the run ended: 0 for a Complete Job; for a
// Failed one, the exit code of the wfsh container of its last failed pod
// (1 when it has none, e.g. the Job's deadline passed).
func flowRunResult(j *batchv1.Job, pods []corev1.Pod) FlowRunResult {
	res := FlowRunResult{Job: j.Name, Namespace: j.Namespace, Status: "Complete"}
	c := condition(j, batchv1.JobFailed)
	if c == nil {
		return res
	}
	res.Status, res.ExitCode = "Failed: "+c.Reason, 1
	if c.Message != "" {
		res.Status += ": " + c.Message
	}
	if p := lastFailed(pods); p != nil {
		res.Status += "; pod " + p.Name + " " + podExit(p)
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && (cs.Name == flowContainer || len(p.Status.ContainerStatuses) == 1) {
				res.ExitCode = int64(t.ExitCode)
			}
		}
	}
	return res
}
