package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// cleanupTimeout bounds the deletion of a Job once its task has been
// cancelled or has timed out.
const cleanupTimeout = 30 * time.Second

// logTail is how many of the failed pod's last log lines a failure reports.
const logTail = 20

// jobRun is one run of run_namespaced_job: a Job from a manifest, followed
// to its end.
type jobRun struct {
	cs        *client
	job       *batchv1.Job
	namespace string
	logLevel  *sdk.Level // nil: do not stream the pods' logs
	delete    bool
	log       logFunc
	base      string // the name before its random suffix
	// created is called once the Job exists (tests).
	created func(*batchv1.Job)
	// resumed: the watch of the Job dropped and resumed (the API server
	// may have restarted)
	resumed bool
}

// pending counts the calls that may still have a Job to delete, so that
// the plugin's process does not exit before they have (Main).
var pending sync.WaitGroup

func (p *plugin) runJob(ctx context.Context, c *sdk.Call) (any, error) {
	pending.Add(1)
	defer pending.Done()
	cl, err := p.client(ctx, c)
	if err != nil {
		return nil, err
	}
	job, err := decodeJob(c.Args["body"])
	if err != nil {
		return nil, err
	}
	level, err := parseLevel(c.Args["log_level"])
	if err != nil {
		return nil, err
	}
	r := &jobRun{cs: cl, job: job, logLevel: level, delete: c.Bool("delete_job_after_completion"), log: callLog(c)}
	r.namespace = namespaceFor(c.String("namespace"), job.Namespace, cl)
	r.prepare(c.FlowRun, c.TaskRun)
	if !c.Bool("wait") {
		created, err := r.create(ctx)
		if err != nil {
			return nil, err
		}
		return jobSummary(created, "Created"), nil
	}
	return r.run(ctx)
}

// prepare names and labels the Job for this task run.
func (r *jobRun) prepare(flowRun, taskRun string) {
	r.base = baseName(r.job, taskRun)
	r.job.GenerateName = ""
	r.job.Name = uniqueName(r.base)
	r.job.Namespace = r.namespace
	r.job.ResourceVersion = ""
	tag(r.job, flowRun, taskRun)
}

// create creates the Job; should its random name be taken, it takes
// another.
func (r *jobRun) create(ctx context.Context) (*batchv1.Job, error) {
	jobs := r.cs.cs.BatchV1().Jobs(r.namespace)
	for attempt := 0; ; attempt++ {
		created, err := jobs.Create(ctx, r.job, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && attempt < 5 {
			r.job.Name = uniqueName(r.base)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create job %s/%s: %v", r.namespace, r.job.Name, apiMessage(err))
		}
		if r.created != nil {
			r.created(created)
		}
		return created, nil
	}
}

// run creates the Job, follows it and its pods' logs to its end, deletes
// it, and returns its summary or the reason it failed.
func (r *jobRun) run(ctx context.Context) (any, error) {
	job, err := r.create(ctx)
	if err != nil {
		return nil, err
	}
	ref := r.namespace + "/" + job.Name
	r.log(sdk.Info, fmt.Sprintf("created job %s", ref))
	logs := newPodLogs(r.cs, r.namespace, job, r.logLevel, r.log)
	logs.start(ctx)
	final, err := r.wait(ctx, job)
	if err != nil {
		logs.stop()
		if !errors.Is(err, errJobDeleted) {
			r.abandon(ctx, job)
		}
		return nil, err
	}
	finishCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	pods := logs.finish(finishCtx)
	cancel()
	failure := jobFailure(final, pods, logs)
	if r.delete {
		if err := r.deleteJob(ctx, job.Name); err != nil {
			if failure != nil {
				return nil, fmt.Errorf("%v; and deleting it failed: %v", failure, err)
			}
			return nil, fmt.Errorf("job %s succeeded, but deleting it failed: %v", ref, err)
		}
		r.log(sdk.Debug, fmt.Sprintf("deleted job %s", ref))
	}
	if failure != nil {
		return nil, failure
	}
	r.log(sdk.Info, fmt.Sprintf("job %s succeeded", ref))
	return jobSummary(final, "Complete"), nil
}

// wait watches the Job until it is Complete or Failed.
func (r *jobRun) wait(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	jobs := r.cs.cs.BatchV1().Jobs(r.namespace)
	byName := "metadata.name=" + job.Name
	last := job
	w := &resumableWatch{
		what: "job " + r.namespace + "/" + job.Name,
		list: func(ctx context.Context) ([]runtime.Object, string, error) {
			l, err := jobs.List(ctx, metav1.ListOptions{FieldSelector: byName})
			if err != nil {
				return nil, "", err
			}
			if len(l.Items) == 0 {
				return nil, "", errJobDeleted
			}
			return []runtime.Object{&l.Items[0]}, l.ResourceVersion, nil
		},
		watch: func(ctx context.Context, rv string) (watch.Interface, error) {
			return jobs.Watch(ctx, listOptions(byName, "", rv))
		},
		handle: func(obj runtime.Object, deleted bool) (bool, error) {
			j, ok := obj.(*batchv1.Job)
			if !ok || j.UID != job.UID {
				return false, nil
			}
			if deleted {
				return true, errJobDeleted
			}
			last = j
			return finished(j), nil
		},
		note: func(text string) { r.log(sdk.Debug, text) },
	}
	// list, then watch from the list: the Job as it is now, then each change
	err := w.run(ctx, "")
	r.resumed = w.resumed
	if err != nil {
		if errors.Is(err, errJobDeleted) {
			return nil, &apiError{msg: fmt.Sprintf("job %s/%s was deleted before it finished", r.namespace, job.Name), err: errJobDeleted}
		}
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("following job %s/%s: %v", r.namespace, job.Name, apiMessage(err))
	}
	return last, nil
}

var errJobDeleted = errors.New("the job was deleted")

// abandon deletes a Job that the task stops following before its end:
// always when the task was cancelled or timed out, and, when it deletes
// its Jobs, when it could not follow the Job (a Job that nobody follows
// should not run on unseen). The task's context may have ended: the
// deletion has one of its own.
func (r *jobRun) abandon(ctx context.Context, job *batchv1.Job) {
	why := "task ended (" + fmt.Sprint(context.Cause(ctx)) + ")"
	if ctx.Err() == nil {
		if !r.delete {
			return
		}
		why = "not following it any more"
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	ref := r.namespace + "/" + job.Name
	if err := r.deleteJob(dctx, job.Name); err != nil {
		r.log(sdk.Error, fmt.Sprintf("%s; deleting job %s failed: %v", why, ref, err))
		return
	}
	r.log(sdk.Warning, fmt.Sprintf("%s; deleted job %s", why, ref))
}

// deleteJob deletes the finished Job, retrying what a retry may mend: the
// network, an overloaded server, and, after the watch had to resume, the
// refusals of an API server that has just restarted.
func (r *jobRun) deleteJob(ctx context.Context, name string) error {
	delay := &backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	var grace authGrace
	for attempt := 1; ; attempt++ {
		err := deleteJob(ctx, r.cs, r.namespace, name, metav1.DeletePropagationBackground)
		if err == nil || apierrors.IsNotFound(errors.Unwrap(err)) {
			return nil
		}
		if attempt == 10 || !retriable(errors.Unwrap(err)) && !grace.transient(errors.Unwrap(err), r.resumed) || delay.wait(ctx) != nil {
			return err
		}
	}
}

func deleteJob(ctx context.Context, cl *client, ns, name string, policy metav1.DeletionPropagation) error {
	err := cl.cs.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil {
		return &apiError{msg: fmt.Sprintf("delete job %s/%s: %s", ns, name, apiMessage(err)), err: err}
	}
	return nil
}

// apiError is an error with a message of ours; it unwraps to the API's
// error (or errJobDeleted).
type apiError struct {
	msg string
	err error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// finished reports whether the Job is Complete or Failed.
func finished(j *batchv1.Job) bool {
	return condition(j, batchv1.JobComplete) != nil || condition(j, batchv1.JobFailed) != nil
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		c := &j.Status.Conditions[i]
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// jobFailure is nil for a Complete Job; for a Failed one, its reason and
// the last log lines of its last failed pod.
func jobFailure(j *batchv1.Job, pods []corev1.Pod, logs *podLogs) error {
	c := condition(j, batchv1.JobFailed)
	if c == nil {
		return nil
	}
	msg := fmt.Sprintf("job %s/%s failed: %s", j.Namespace, j.Name, c.Reason)
	if c.Message != "" {
		msg += ": " + c.Message
	}
	if pod := lastFailed(pods); pod != nil {
		msg += fmt.Sprintf("; pod %s %s", pod.Name, podExit(pod))
		if tail := logs.tail(pod.Name); len(tail) > 0 {
			msg += "; last log lines:\n" + strings.Join(tail, "\n")
		}
	}
	return errors.New(msg)
}

// lastFailed returns the failed pod that finished last.
func lastFailed(pods []corev1.Pod) *corev1.Pod {
	var last *corev1.Pod
	var lastAt time.Time
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase != corev1.PodFailed {
			continue
		}
		at := p.CreationTimestamp.Time
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.FinishedAt.After(at) {
				at = t.FinishedAt.Time
			}
		}
		if last == nil || !at.Before(lastAt) {
			last, lastAt = p, at
		}
	}
	return last
}

// podExit says how a pod's containers ended: "exited with code 1 (Error)".
func podExit(p *corev1.Pod) string {
	var parts []string
	for _, cs := range p.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		s := fmt.Sprintf("exited with code %d", t.ExitCode)
		if len(p.Status.ContainerStatuses) > 1 {
			s = "container " + cs.Name + " " + s
		}
		if t.Reason != "" {
			s += " (" + t.Reason + ")"
		}
		if t.Message != "" {
			s += ": " + t.Message
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		s := "failed"
		if p.Status.Reason != "" {
			s += " (" + p.Status.Reason + ")"
		}
		if p.Status.Message != "" {
			s += ": " + p.Status.Message
		}
		return s
	}
	return strings.Join(parts, ", ")
}

// jobSummary is what a run_namespaced_job task returns.
func jobSummary(j *batchv1.Job, status string) map[string]any {
	out := map[string]any{
		"name":      j.Name,
		"namespace": j.Namespace,
		"uid":       string(j.UID),
		"status":    status,
		"succeeded": int64(j.Status.Succeeded),
		"failed":    int64(j.Status.Failed),
	}
	if t := j.Status.StartTime; t != nil {
		out["start_time"] = t.UTC().Format(time.RFC3339)
	}
	if t := j.Status.CompletionTime; t != nil {
		out["completion_time"] = t.UTC().Format(time.RFC3339)
	}
	return out
}

// apiMessage is the API server's own message for an API error (without
// client-go's wrapping), else the error.
func apiMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		if s.Message != "" {
			return s.Message
		}
	}
	return err.Error()
}

// parseLevel reads log_level: a level name, or None for no streaming.
func parseLevel(v any) (*sdk.Level, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("log_level must be a string or None, got %s", typeName(v))
	}
	var l sdk.Level
	switch strings.ToLower(s) {
	case "debug":
		l = sdk.Debug
	case "info", "":
		l = sdk.Info
	case "warning", "warn":
		l = sdk.Warning
	case "error":
		l = sdk.Error
	default:
		return nil, fmt.Errorf("log_level %q: want debug, info, warning, error or None", s)
	}
	return &l, nil
}
