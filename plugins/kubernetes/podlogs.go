package kubernetes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// catchUpTimeout bounds the last read of a pod's log once it has ended.
const catchUpTimeout = 10 * time.Second

// podLogs streams the logs of a Job's pods into the task's log while the
// Job runs. It watches the Job's pods; each container that starts gets a
// follower, which reads its log with follow=true and timestamps. When the
// pod ends (or the Job does), the follower stops following and reads the
// log once more from the last timestamp it saw, skipping the lines it has
// already sent: a kubelet closes a follow stream when the container exits,
// but not every node does, and a dropped connection must not lose or
// repeat lines either.
type podLogs struct {
	cs       *client
	ns       string
	selector string
	level    *sdk.Level // nil: keep tails for the failure message only
	log      logFunc
	prefix   bool // several pods or containers at once: say whose line it is

	ctx         context.Context // the followers'
	cancel      context.CancelFunc
	watchCancel context.CancelFunc
	watchDone   chan struct{}
	followers   sync.WaitGroup

	mu      sync.Mutex
	pods    map[string]*corev1.Pod
	streams map[string]*logStream // by pod/container
	waiting map[string]string     // the last waiting reason said, by pod/container
	failed  map[string]bool       // pods whose failure was said
}

func newPodLogs(cs *client, ns string, job *batchv1.Job, level *sdk.Level, log logFunc) *podLogs {
	sel := ""
	if job.Spec.Selector != nil {
		if s, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil {
			sel = s.String()
		}
	}
	if sel == "" {
		sel = "batch.kubernetes.io/controller-uid=" + string(job.UID)
	}
	parallel := job.Spec.Parallelism != nil && *job.Spec.Parallelism > 1
	return &podLogs{cs: cs, ns: ns, selector: sel, level: level, log: log,
		prefix: parallel || len(job.Spec.Template.Spec.Containers) > 1,
		pods:   map[string]*corev1.Pod{}, streams: map[string]*logStream{},
		waiting: map[string]string{}, failed: map[string]bool{}}
}

// start watches the pods and follows their logs until finish or stop.
func (pl *podLogs) start(ctx context.Context) {
	pl.ctx, pl.cancel = context.WithCancel(ctx)
	watchCtx, watchCancel := context.WithCancel(pl.ctx)
	pl.watchCancel = watchCancel
	pl.watchDone = make(chan struct{})
	if pl.level == nil {
		close(pl.watchDone)
		return
	}
	pods := pl.cs.cs.CoreV1().Pods(pl.ns)
	w := &resumableWatch{
		what: "pods " + pl.selector,
		list: func(ctx context.Context) ([]runtime.Object, string, error) {
			l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: pl.selector})
			if err != nil {
				return nil, "", err
			}
			objs := make([]runtime.Object, len(l.Items))
			for i := range l.Items {
				objs[i] = &l.Items[i]
			}
			return objs, l.ResourceVersion, nil
		},
		watch: func(ctx context.Context, rv string) (watch.Interface, error) {
			return pods.Watch(ctx, listOptions("", pl.selector, rv))
		},
		handle: func(obj runtime.Object, deleted bool) (bool, error) {
			if p, ok := obj.(*corev1.Pod); ok && !deleted {
				pl.seen(p)
			}
			return false, nil
		},
		note: func(text string) { pl.log(sdk.Debug, text) },
	}
	go func() {
		defer close(pl.watchDone)
		if err := w.run(watchCtx, ""); err != nil && watchCtx.Err() == nil {
			pl.log(sdk.Warning, fmt.Sprintf("not following the pods' logs: %v", apiMessage(err)))
		}
	}()
}

// seen records a pod's state: its containers that run get followers, a
// pod that has ended has its followers stopped, and what keeps a container
// waiting or made the pod fail is said once.
func (pl *podLogs) seen(p *corev1.Pod) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.pods[p.Name] = p
	if pl.level == nil {
		return // nothing to follow or say: the pods are kept for the failure message
	}
	ended := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	started := ended || p.Status.Phase == corev1.PodRunning
	for _, c := range p.Spec.Containers {
		key := p.Name + "/" + c.Name
		pl.sayWaiting(p, c.Name, key)
		s := pl.streams[key]
		if s == nil && started {
			s = &logStream{pod: p.Name, container: c.Name}
			pl.streams[key] = s
			pl.followers.Add(1)
			go pl.follow(s)
		}
		if s != nil && ended {
			s.end()
		}
	}
	if p.Status.Phase == corev1.PodFailed && !pl.failed[p.Name] {
		pl.failed[p.Name] = true
		pl.log(sdk.Warning, fmt.Sprintf("pod %s %s", p.Name, podExit(p)))
	}
}

func (pl *podLogs) sayWaiting(p *corev1.Pod, container, key string) {
	for _, cs := range p.Status.ContainerStatuses {
		w := cs.State.Waiting
		if cs.Name != container || w == nil || w.Reason == "" || w.Reason == "ContainerCreating" || pl.waiting[key] == w.Reason {
			continue
		}
		pl.waiting[key] = w.Reason
		msg := fmt.Sprintf("pod %s: container %s is waiting: %s", p.Name, container, w.Reason)
		if w.Message != "" {
			msg += ": " + w.Message
		}
		pl.log(sdk.Warning, msg)
	}
}

// finish is called once the Job has finished: it stops the watch, lists
// the pods one last time, reads what is left of every log, and returns the
// pods.
func (pl *podLogs) finish(ctx context.Context) []corev1.Pod {
	// no new follower from the watch from here on: the followers can be
	// waited for
	pl.watchCancel()
	<-pl.watchDone
	l, err := pl.cs.cs.CoreV1().Pods(pl.ns).List(ctx, metav1.ListOptions{LabelSelector: pl.selector})
	if err != nil {
		pl.log(sdk.Debug, fmt.Sprintf("listing the job's pods: %v", apiMessage(err)))
	} else {
		for i := range l.Items {
			// a pod that ended between two events of the watch, or before
			// it started, gets its log read once
			pl.seen(&l.Items[i])
		}
	}
	pl.mu.Lock()
	for _, s := range pl.streams {
		s.end()
	}
	pods := make([]corev1.Pod, 0, len(pl.pods))
	for _, p := range pl.pods {
		pods = append(pods, *p)
	}
	pl.mu.Unlock()
	done := make(chan struct{})
	go func() {
		pl.followers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		pl.log(sdk.Warning, "gave up reading the rest of the pods' logs: "+context.Cause(ctx).Error())
	}
	pl.stop()
	return pods
}

// stop ends the watch and every follower at once.
func (pl *podLogs) stop() {
	if pl.cancel == nil {
		return
	}
	pl.cancel()
	<-pl.watchDone
	pl.followers.Wait()
}

// tail returns the last lines of a pod's log: those the followers kept,
// else (when the logs were not streamed) read now.
func (pl *podLogs) tail(pod string) []string {
	pl.mu.Lock()
	var lines []string
	for _, s := range pl.streams {
		if s.pod == pod {
			lines = append(lines, s.lastLines()...)
		}
	}
	pl.mu.Unlock()
	if len(lines) > 0 || pl.level != nil {
		return lines
	}
	ctx, cancel := context.WithTimeout(context.Background(), catchUpTimeout)
	defer cancel()
	n := int64(logTail)
	rc, err := pl.cs.cs.CoreV1().Pods(pl.ns).GetLogs(pod, &corev1.PodLogOptions{TailLines: &n}).Stream(ctx)
	if err != nil {
		return nil
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// follow streams one container's log until it has ended and been read to
// the end, or the task has.
func (pl *podLogs) follow(s *logStream) {
	defer pl.followers.Done()
	delay := &backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	var grace authGrace
	opened := false // a read has worked: a refusal now may be a restarting API server's
	for pl.ctx.Err() == nil {
		rctx, cancel := context.WithCancel(pl.ctx)
		if !s.following(cancel) {
			cancel()
			pl.catchUp(s, opened)
			return
		}
		ok, err := pl.read(rctx, s, true)
		cancel()
		if ok {
			opened = true
			grace.reset()
		}
		if pl.ctx.Err() != nil {
			return
		}
		if s.hasEnded() {
			pl.catchUp(s, opened)
			return
		}
		if err != nil && !retriable(err) && !grace.transient(err, opened) {
			pl.log(sdk.Warning, fmt.Sprintf("cannot read the log of pod %s, container %s: %s", s.pod, s.container, apiMessage(err)))
			return
		}
		if err == nil {
			delay.reset()
		}
		if delay.wait(pl.ctx) != nil {
			return
		}
	}
}

// catchUp reads the log once, without following, from where the follower
// left off; it retries what a retry may mend, for catchUpTimeout.
func (pl *podLogs) catchUp(s *logStream, opened bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(pl.ctx), catchUpTimeout)
	defer cancel()
	stop := context.AfterFunc(pl.ctx, cancel) // a cancelled task reads no more
	defer stop()
	delay := &backoff{min: 100 * time.Millisecond, max: time.Second}
	var grace authGrace
	for {
		ok, err := pl.read(ctx, s, false)
		if err == nil || pl.ctx.Err() != nil {
			return
		}
		if !retriable(err) && !grace.transient(err, opened || ok) || delay.wait(ctx) != nil {
			pl.log(sdk.Warning, fmt.Sprintf("cannot read the log of pod %s, container %s: %s", s.pod, s.container, apiMessage(err)))
			return
		}
	}
}

// read reads the log with timestamps from the last one seen, and sends the
// lines not sent yet; opened reports whether the API server answered.
func (pl *podLogs) read(ctx context.Context, s *logStream, follow bool) (opened bool, err error) {
	opts := &corev1.PodLogOptions{Container: s.container, Follow: follow, Timestamps: true}
	if since := s.since(); !since.IsZero() {
		t := metav1.NewTime(since)
		opts.SinceTime = &t
	}
	rc, err := pl.cs.cs.CoreV1().Pods(pl.ns).GetLogs(s.pod, opts).Stream(ctx)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	same := 0
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if text, ok := s.accept(strings.TrimSuffix(line, "\n"), &same); ok {
				pl.emit(s, text)
			}
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return true, err
		}
	}
}

func (pl *podLogs) emit(s *logStream, text string) {
	if pl.level == nil {
		return
	}
	if pl.prefix {
		text = s.pod + "/" + s.container + " | " + text
	}
	pl.log(*pl.level, text)
}

// logStream is one container's log, as far as it has been read.
type logStream struct {
	pod, container string

	mu     sync.Mutex
	ended  bool               // the pod has ended: stop following
	cancel context.CancelFunc // of the read in progress
	last   time.Time          // the timestamp of the last line sent
	atLast int                // how many lines sent had that timestamp
	lines  []string           // the last lines, for a failure message
}

// following records the cancel of a new follow read; false if the
// container has already ended.
func (s *logStream) following(cancel context.CancelFunc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.cancel = cancel
	return true
}

// end stops the follow read in progress: the container has ended.
func (s *logStream) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *logStream) hasEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// since is where a new read starts: the second of the last line sent (the
// API takes whole seconds), or zero for the whole log.
func (s *logStream) since() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.IsZero() {
		return time.Time{}
	}
	return s.last.Truncate(time.Second)
}

// accept takes one timestamped line of a read and returns its text, or
// false for a line already sent. same counts, within one read, the lines
// stamped with the last timestamp sent.
func (s *logStream) accept(line string, same *int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, text, ok := strings.Cut(line, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil {
		s.keep(line)
		return line, true
	}
	switch {
	case !s.last.IsZero() && t.Before(s.last):
		return "", false
	case t.Equal(s.last):
		*same++
		if *same <= s.atLast {
			return "", false
		}
		s.atLast = *same
	default:
		s.last, s.atLast, *same = t, 1, 1
	}
	s.keep(text)
	return text, true
}

func (s *logStream) keep(text string) {
	s.lines = append(s.lines, text)
	if len(s.lines) > logTail {
		s.lines = s.lines[len(s.lines)-logTail:]
	}
}

func (s *logStream) lastLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}
