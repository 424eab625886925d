// Package k8spool is the worker of a work pool of type kubernetes
// (`wfsh worker --pool P` execs wfsh-worker-kubernetes, which runs it):
// it claims the pool's runs from the server as the process worker does,
// holds them under their lease by heartbeats, and runs each as a
// batch/v1 Job made from the pool's base Job template, whose container
// runs `wfsh run FILE --server-run ID` and reports to the server itself.
// It follows the Jobs and their pods with informers (watches), and tells
// the server a run Crashed, with the reason, when its pod cannot be
// scheduled or pulled within a timeout, is evicted, is OOMKilled, or ends
// without wfsh's exit status. Cancelling a run deletes its Job. See
// docs/kubernetes.md, "The kubernetes work pool".
//
// It links client-go, which wfsh itself does not (internal/depcheck).
package k8spool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/worker"
)

// Labels on every Job, pod and Secret the worker makes, so that
// `kubectl get jobs,pods,secrets -l wfsh/run=ID` finds what a run made.
const (
	LabelRun     = "wfsh/run"
	LabelPool    = "wfsh/pool"
	LabelAttempt = "wfsh/attempt"
	LabelManaged = "app.kubernetes.io/managed-by"
	AnnoFlow     = "wfsh/flow"
	AnnoWorker   = "wfsh/worker"
)

// Config is one worker.
type Config struct {
	API       *server.Client // the worker's client of the server (a worker token of Pool)
	PodServer string         // the server's URL as the Jobs' pods reach it; default API.Base
	Pool      string
	Name      string
	Slots     int // runs held at once
	// Template is the worker's own base Job (template.go), used when
	// the server keeps none for the pool.
	Template *batchv1.Job
	Kube     kubernetes.Interface // the cluster
	// StartTimeout is how long a pod may stay unschedulable or fail to
	// pull its image before the run is Crashed (default 2 minutes).
	StartTimeout time.Duration
	// TTL is the Jobs' ttlSecondsAfterFinished (default 600).
	TTL int32
	// DeadlineMargin is added to a flow's timeout for its Jobs'
	// activeDeadlineSeconds (default DeadlineMargin).
	DeadlineMargin time.Duration
	Grace          time.Duration // how long a draining worker lets its runs go on
	Log            io.Writer
}

// Worker claims and follows runs.
type Worker struct {
	cfg  Config
	ns   string
	core *worker.Worker // claims, heartbeats, drain (package worker)
	jobs batchlisters.JobLister
	pods corelisters.PodLister

	mu      sync.Mutex
	running map[string]*run // by run ID: the runs whose Jobs it follows
	pool    Pool            // as the server last said
	tmpl    *batchv1.Job    // the base Job: the server's, else Config.Template
	tmplErr error           // why there is none
}

// run is one claimed run and its Job.
type run struct {
	id, job, secret string
	claimed         server.Claimed
	changed         chan struct{} // an informer saw its Job or a pod change
	cancel          chan struct{} // closed when the server cancels it
	gone            chan struct{} // closed when the server no longer gives it this worker
	ended           chan struct{} // closed when follow returns
	end             worker.End    // how, once ended
	claimedAt       time.Time     // when this worker's claim returned it
	created         time.Time
	seenJob         bool
	timedOut        bool                 // its Job was stopped at its deadline
	pendingSince    map[string]time.Time // reason -> first seen
	tmpl            *batchv1.Job         // its base Job, its deployment's job variables applied
	tmplErr         error                // why it has none
}

// New checks the config and makes a worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Slots < 1 {
		cfg.Slots = 1
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 2 * time.Minute
	}
	if cfg.TTL == 0 {
		cfg.TTL = 600
	}
	if cfg.DeadlineMargin <= 0 {
		cfg.DeadlineMargin = DeadlineMargin
	}
	if cfg.PodServer == "" {
		cfg.PodServer = cfg.API.Base
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Template != nil {
		if err := checkTemplate(cfg.Template); err != nil {
			return nil, err
		}
	}
	var b [3]byte
	rand.Read(b[:])
	w := &Worker{cfg: cfg, running: map[string]*run{}}
	info := server.WorkerInfo{ID: fmt.Sprintf("%s-k8s-%s", cfg.Name, hex.EncodeToString(b[:])), Name: cfg.Name, Slots: cfg.Slots}
	// Runs still going when a draining worker's grace ends are left to
	// their Jobs, whose pods report to the server themselves.
	w.core = worker.New(worker.Config{API: cfg.API, Pool: cfg.Pool, Info: info, Grace: cfg.Grace, Log: cfg.Log}, w)
	return w, nil
}

// ID is the worker's id as the server knows it.
func (w *Worker) ID() string { return w.core.ID() }

func (w *Worker) logf(format string, args ...any) { w.core.Logf(format, args...) }

// Run claims and follows runs until ctx ends, then drains: it claims no
// more and lets the Jobs go on for the grace; runs still going then are
// left to their Jobs (whose pods report to the server themselves) and to
// their leases.
func (w *Worker) Run(ctx context.Context) error {
	// The server may be starting beside the worker: wait for it, as the
	// claims do, unless it refuses.
	var ae *server.APIError
	if err := worker.Retry(ctx, w.cfg.Log, "pool "+w.cfg.Pool, w.refresh,
		func(err error) bool { return errors.As(err, &ae) && ae.Status < 500 }); err != nil {
		return err
	}
	if w.tmplErr != nil {
		return w.tmplErr
	}
	w.ns = w.tmpl.Namespace
	f := informers.NewSharedInformerFactoryWithOptions(w.cfg.Kube, 10*time.Minute, informers.WithNamespace(w.ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelPool + "=" + w.cfg.Pool }))
	ji, pi := f.Batch().V1().Jobs(), f.Core().V1().Pods()
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.notify(o) },
		UpdateFunc: func(_, o any) { w.notify(o) },
		DeleteFunc: func(o any) { w.notify(o) },
	}
	ji.Informer().AddEventHandler(notify)
	pi.Informer().AddEventHandler(notify)
	w.jobs, w.pods = ji.Lister(), pi.Lister()
	infCtx, stopInf := context.WithCancel(context.Background())
	defer stopInf()
	f.Start(infCtx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("watching %v in namespace %s: %w", typ, w.ns, errors.Join(ctx.Err(), errors.New("cache not synced")))
		}
	}
	w.logf("%s: pool %s (kubernetes, namespace %s), %d slot(s), server %s", w.ID(), w.cfg.Pool, w.ns, w.cfg.Slots, w.cfg.API.Base)
	return w.core.Run(ctx)
}

// notify wakes the run a Job or pod belongs to.
func (w *Worker) notify(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	m, ok := o.(metav1.Object)
	if !ok {
		return
	}
	w.mu.Lock()
	r := w.running[m.GetLabels()[LabelRun]]
	w.mu.Unlock()
	if r != nil {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

// Claimed reads the pool's Job template again before a claim's runs
// start (worker.ClaimWatcher): the last one read is used if it fails.
func (w *Worker) Claimed(ctx context.Context, _ []server.Claimed) {
	if err := w.refresh(ctx); err != nil {
		w.logf("reading pool %s's job template: %v (the last one read is used)", w.cfg.Pool, err)
	}
}

// Start makes the Job of a run the core claimed (unless it exists), and
// follows it to its end.
func (w *Worker) Start(ctx context.Context, cl server.Claimed) (worker.Run, error) {
	r := &run{id: cl.Run.ID, claimed: cl, claimedAt: time.Now(), changed: make(chan struct{}, 1), cancel: make(chan struct{}),
		gone: make(chan struct{}), ended: make(chan struct{}), pendingSince: map[string]time.Time{}}
	r.job = JobName(cl.Run.ID, attempt(cl))
	r.tmpl, r.tmplErr = w.template(cl)
	r.secret = r.job
	w.mu.Lock()
	w.running[r.id] = r
	w.mu.Unlock()
	go func() {
		r.end = w.follow(r)
		w.mu.Lock()
		delete(w.running, r.id)
		w.mu.Unlock()
		close(r.ended)
	}()
	return r, nil
}

func (r *run) Wait() worker.End {
	<-r.ended
	return r.end
}

func (r *run) Cancel() { close(r.cancel) }
func (r *run) Drop()   { close(r.gone) }

// refresh reads the pool from the server: its base Job template (else
// the worker's own) and the job variables it allows. A template the
// server has that does not load is kept as the error of the runs
// claimed with it.
func (w *Worker) refresh(ctx context.Context) error {
	var p Pool
	if err := w.cfg.API.Do(ctx, "GET", "/pools/"+server.PathEscape(w.cfg.Pool), nil, &p); err != nil {
		return fmt.Errorf("pool %s: %w", w.cfg.Pool, err)
	}
	var tmpl *batchv1.Job
	var err error
	switch {
	case len(p.JobTemplate) > 0 && string(p.JobTemplate) != "null":
		tmpl, err = PoolTemplate(&p)
	case w.cfg.Template != nil:
		tmpl = w.cfg.Template
	default:
		err = fmt.Errorf("pool %s has no Job template: set one on the server (wfsh pool set %s --job-template FILE) or give the worker --job-template FILE",
			w.cfg.Pool, w.cfg.Pool)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pool, w.tmpl, w.tmplErr = p, tmpl, err
	return nil
}

// template is a claimed run's base Job: the pool's, with its
// deployment's job variables applied, in the namespace the worker
// watches.
func (w *Worker) template(cl server.Claimed) (*batchv1.Job, error) {
	w.mu.Lock()
	p, tmpl, err := w.pool, w.tmpl, w.tmplErr
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if tmpl.Namespace != w.ns {
		return nil, fmt.Errorf("pool %s's job template now puts Jobs in namespace %s; this worker watches %s: restart it", p.Name, tmpl.Namespace, w.ns)
	}
	return ApplyJobVariables(tmpl, &p, cl.JobVariables)
}

func attempt(cl server.Claimed) int {
	if cl.Run.Server != nil {
		return cl.Run.Server.Crashes
	}
	return 0
}

// JobName is the Job of a run's attempt: the same name however many
// times the run is claimed, so that a worker that claims it again finds
// the Job a dead worker made instead of making a second.
func JobName(runID string, attempt int) string {
	return fmt.Sprintf("wfsh-%s-%d", runID, attempt)
}

// follow makes the run's Job (unless it exists) and follows it to its
// end; it says how the run ended if not with its own final state.
func (w *Worker) follow(r *run) worker.End {
	ctx := context.Background()
	if err := w.ensureJob(ctx, r); err != nil {
		return worker.End{Crash: fmt.Sprintf("the worker could not make the run's Job %s/%s: %v", w.ns, r.job, err)}
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		end, crash := w.check(ctx, r)
		if end {
			if crash == "" && !w.ended(ctx, r.id) {
				crash = fmt.Sprintf("job %s/%s ended without the run's final state (did its container run wfsh?)", w.ns, r.job)
			}
			switch {
			case crash != "" && r.timedOut:
				w.logf("run %s: timed out: %s", r.id, crash)
			case crash != "":
				w.logf("run %s: crashed: %s", r.id, crash)
			default:
				w.logf("run %s: job %s ended", r.id, r.job)
			}
			return worker.End{Crash: crash, TimedOut: r.timedOut}
		}
		select {
		case <-r.changed:
		case <-tick.C: // the start timeout
		case <-r.cancel:
			w.logf("run %s: cancelled on the server; deleting job %s/%s", r.id, w.ns, r.job)
			w.deleteJob(ctx, r)
			w.waitGone(ctx, r)
			return worker.End{}
		case <-r.gone:
			if why, keep := w.leaveJob(ctx, r.id); keep {
				w.logf("run %s: %s; leaving job %s/%s to it", r.id, why, w.ns, r.job)
				return worker.End{}
			}
			w.logf("run %s: the server no longer gives it this worker; deleting job %s/%s", r.id, w.ns, r.job)
			w.deleteJob(ctx, r)
			w.waitGone(ctx, r)
			return worker.End{}
		}
	}
}

// ensureJob reads the run's Job, and makes it (and the Secret with the
// token its pod reports with) if it does not exist.
func (w *Worker) ensureJob(ctx context.Context, r *run) error {
	jobs := w.cfg.Kube.BatchV1().Jobs(w.ns)
	if j, err := jobs.Get(ctx, r.job, metav1.GetOptions{}); err == nil {
		w.logf("run %s: job %s/%s exists (made by an earlier claim); following it", r.id, w.ns, r.job)
		r.created = j.CreationTimestamp.Time
		return w.ensureSecret(ctx, r, j)
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	if r.tmplErr != nil {
		return r.tmplErr
	}
	job := BuildJob(r.tmpl, JobInput{Claimed: r.claimed, Name: r.job, Pool: w.cfg.Pool, Worker: w.ID(),
		Server: w.cfg.PodServer, Secret: r.secret, TTL: w.cfg.TTL,
		Margin: w.cfg.DeadlineMargin})
	made, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		made, err = jobs.Get(ctx, r.job, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	r.created = time.Now()
	w.logf("run %s (%s): job %s/%s created %v after the claim", r.id, r.claimed.Run.Flow, w.ns, r.job, r.created.Sub(r.claimedAt).Round(time.Microsecond))
	return w.ensureSecret(ctx, r, made)
}

// ensureSecret makes the Secret holding the token the run's pod reports
// with, owned by the Job (deleted with it): a run token the server makes
// for this run and this worker's claim, never the worker's own token (a
// pod may act on its run only, and not after the run is claimed again or
// ends).
func (w *Worker) ensureSecret(ctx context.Context, r *run, job *batchv1.Job) error {
	var tok server.NewTokenReply
	if err := w.cfg.API.Do(ctx, "POST", "/runs/"+server.PathEscape(r.id)+"/token", server.RunTokenRequest{Worker: w.ID()}, &tok); err != nil {
		return fmt.Errorf("a token for the run's pod: %w", err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: r.secret, Namespace: w.ns, Labels: job.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}}},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{SecretKey: tok.Token, WorkerKey: w.ID()},
	}
	_, err := w.cfg.Kube.CoreV1().Secrets(w.ns).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Made by the worker that claimed the run before: the pod, which
		// has not reported yet (the run was Pending), must report as this
		// worker, which holds the run now.
		patch, _ := json.Marshal(map[string]any{"stringData": s.StringData})
		_, err = w.cfg.Kube.CoreV1().Secrets(w.ns).Patch(ctx, r.secret, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	return err
}

// check reads the run's Job and pod from the informers' caches: whether
// the run's infrastructure has ended, and if so the reason it crashed
// ("" if the pod ended with a run's exit status: the run's own final
// state is on the server).
func (w *Worker) check(ctx context.Context, r *run) (end bool, crash string) {
	job, err := w.jobs.Jobs(w.ns).Get(r.job)
	if err != nil {
		if r.seenJob || time.Since(r.created) > 30*time.Second {
			return true, fmt.Sprintf("job %s/%s was deleted before the run ended", w.ns, r.job)
		}
		return false, "" // not in the cache yet
	}
	r.seenJob = true
	if c := jobCondition(job, batchv1.JobFailed, batchv1.JobFailureTarget); c != nil && c.Reason == batchv1.JobReasonDeadlineExceeded {
		// Before the pods: the Job's controller kills them at its
		// deadline, and their end says less than the Job's condition.
		r.timedOut = true
		return true, w.deadlineMessage(r, job)
	}
	pods, _ := w.pods.Pods(w.ns).List(labels.SelectorFromSet(labels.Set{"batch.kubernetes.io/job-name": r.job}))
	sort.Slice(pods, func(i, j int) bool { return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp) })
	for _, p := range pods {
		if end, crash := podEnded(p); end {
			return true, crash
		}
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete, batchv1.JobSuccessCriteriaMet:
			return true, ""
		case batchv1.JobFailed, batchv1.JobFailureTarget:
			if len(pods) == 0 || c.Reason == "DeadlineExceeded" {
				return true, fmt.Sprintf("job %s/%s failed: %s: %s", w.ns, r.job, c.Reason, c.Message)
			}
		}
	}
	// Not started: crash it if it has waited too long.
	for _, p := range pods {
		if reason, msg := podWaiting(p); reason != "" {
			first, ok := r.pendingSince[reason]
			if !ok {
				first = time.Now()
				r.pendingSince[reason] = first
				w.logf("run %s: pod %s: %s: %s", r.id, p.Name, reason, msg)
			}
			if reason == "InvalidImageName" || time.Since(first) >= w.cfg.StartTimeout {
				w.deleteJob(ctx, r)
				if reason == "InvalidImageName" {
					return true, fmt.Sprintf("pod %s/%s: %s: %s", w.ns, p.Name, reason, msg)
				}
				return true, fmt.Sprintf("pod %s/%s: %s for over %v (--start-timeout): %s", w.ns, p.Name, reason, w.cfg.StartTimeout, msg)
			}
			return false, ""
		}
	}
	return false, ""
}

// podEnded says whether a pod has ended, and why it crashed if it did
// not end with wfsh's exit status (0 the run succeeded, 1 it failed,
// 130 it was interrupted, each with its final state written).
func podEnded(p *corev1.Pod) (bool, string) {
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return true, ""
	case corev1.PodFailed:
	default:
		return false, ""
	}
	if p.Status.Reason == "Evicted" {
		return true, fmt.Sprintf("pod %s/%s evicted: %s", p.Namespace, p.Name, p.Status.Message)
	}
	if p.Status.Reason == "DeadlineExceeded" {
		return true, fmt.Sprintf("pod %s/%s: DeadlineExceeded: %s", p.Namespace, p.Name, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil {
			continue
		}
		if t.Reason == "OOMKilled" {
			return true, fmt.Sprintf("pod %s/%s: container %s OOMKilled (exit code %d): raise its memory limit", p.Namespace, p.Name, cs.Name, t.ExitCode)
		}
		switch t.ExitCode {
		case 0, 1, 130:
			return true, ""
		}
		return true, fmt.Sprintf("pod %s/%s: container %s exited with code %d (%s) before the run ended", p.Namespace, p.Name, cs.Name, t.ExitCode, t.Reason)
	}
	msg := p.Status.Message
	if msg == "" {
		msg = "no container status"
	}
	return true, fmt.Sprintf("pod %s/%s failed: %s %s", p.Namespace, p.Name, p.Status.Reason, msg)
}

// podWaiting is why a pod has not started, if it is one the worker
// gives up on after the start timeout: it cannot be scheduled, or a
// container's image cannot be pulled or its configuration made.
func podWaiting(p *corev1.Pod) (reason, msg string) {
	if p.Status.Phase != corev1.PodPending && p.Status.Phase != "" {
		return "", ""
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return "Unschedulable", c.Message
		}
	}
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if wt := cs.State.Waiting; wt != nil {
			switch wt.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
				return wt.Reason, fmt.Sprintf("container %s: %s", cs.Name, wt.Message)
			}
		}
	}
	return "", ""
}

func (w *Worker) deleteJob(ctx context.Context, r *run) {
	bg := metav1.DeletePropagationBackground
	err := w.cfg.Kube.BatchV1().Jobs(w.ns).Delete(ctx, r.job, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		w.logf("run %s: deleting job %s/%s: %v", r.id, w.ns, r.job, err)
	}
}

// waitGone waits (--grace at most) for a deleted Job's pods to go: they
// get their termination grace to write the run's Cancelled state. The
// run stays held meanwhile; then the worker lets it go, and the server
// ends it Cancelled when its lease lapses if the pod did not.
func (w *Worker) waitGone(ctx context.Context, r *run) {
	deadline := time.After(w.cfg.Grace)
	for {
		pods, _ := w.pods.Pods(w.ns).List(labels.SelectorFromSet(labels.Set{"batch.kubernetes.io/job-name": r.job}))
		if _, err := w.jobs.Jobs(w.ns).Get(r.job); err != nil && len(pods) == 0 {
			w.logf("run %s: job %s/%s and its pods deleted", r.id, w.ns, r.job)
			return
		}
		select {
		case <-r.changed:
		case <-time.After(time.Second):
		case <-deadline:
			return
		}
	}
}

// ended says whether the server has the run's final state (the pod's
// wfsh writes it before it exits). If the server cannot tell, it is
// taken as ended: the lease settles it.
func (w *Worker) ended(ctx context.Context, id string) bool {
	var d server.RunDetail
	if err := w.cfg.API.Do(ctx, "GET", "/runs/"+id, nil, &d); err != nil {
		w.logf("run %s: reading its state: %v", id, err)
		return true
	}
	return d.Run.State.Finished()
}

// leaveJob says whether the Job of a run the server no longer gives this
// worker is to be left alone, and why: its pod wrote the run's end
// (Success or Failed: the Job ends by itself and keeps its pod's log
// until its TTL), or another worker holds the run now and follows the
// same Job. Otherwise (crashed, reaped, cancelled by the server, gone)
// the Job is deleted.
func (w *Worker) leaveJob(ctx context.Context, id string) (string, bool) {
	var d server.RunDetail
	if err := w.cfg.API.Do(ctx, "GET", "/runs/"+id, nil, &d); err != nil {
		return "", false
	}
	switch st := d.Run.State; {
	case st == runtime.Success || st == runtime.Failed:
		return "ended " + st.String(), true
	case !st.Finished() && d.Run.Server != nil && d.Run.Server.Worker != "" && d.Run.Server.Worker != w.ID():
		return "held by worker " + d.Run.Server.Worker + " now", true
	}
	return "", false
}

// jobCondition is the Job's first true condition of those types, or nil.
func jobCondition(job *batchv1.Job, types ...batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && slices.Contains(types, c.Type) {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// deadlineMessage says why a Job stopped at its deadline: the flow's
// timeout, or the template's activeDeadlineSeconds.
func (w *Worker) deadlineMessage(r *run, job *batchv1.Job) string {
	var secs int64
	if job.Spec.ActiveDeadlineSeconds != nil {
		secs = *job.Spec.ActiveDeadlineSeconds
	}
	why := "its Job template's"
	if d, ok := FlowDeadline(r.claimed, w.cfg.DeadlineMargin); ok && d == secs {
		why = fmt.Sprintf("the flow's timeout %v + %v (--deadline-margin)", time.Duration(r.claimed.TimeoutMS)*time.Millisecond, w.cfg.DeadlineMargin)
	}
	return fmt.Sprintf("flow run timed out: job %s/%s was stopped at its deadline, activeDeadlineSeconds %d (%s)", w.ns, r.job, secs, why)
}
