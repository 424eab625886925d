package kubernetes

// Fault injection with client-go's fake clientset: API errors, conflicts,
// dropped and expired watches, which a real API server does not produce on
// demand. The behaviour against a real server is in integration_test.go
// (build tag k8s_integration, `make test-k8s`).

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/wfsh/wfsh/plugins/sdk"
)

var jobsGR = schema.GroupResource{Group: "batch", Resource: "jobs"}

// lines collects what a run logs.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (ls *lines) log(level sdk.Level, text string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.l = append(ls.l, levelName(level)+" "+text)
}

func (ls *lines) String() string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return strings.Join(ls.l, "\n")
}

func levelName(l sdk.Level) string {
	return [...]string{"INFO", "DEBUG", "WARNING", "ERROR"}[l]
}

func testJob() *batchv1.Job {
	return &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
	}}}}
}

func newRun(cs *fake.Clientset, log *lines) *jobRun {
	r := &jobRun{cs: &client{cs: cs, namespace: "default"}, job: testJob(), namespace: "ns", delete: true, log: log.log}
	r.prepare("run-1", "load[3]")
	return r
}

// newFakeRun is newRun against a new fake clientset, with the Job the run
// creates stored in *created.
func newFakeRun(created **batchv1.Job) (*fake.Clientset, *jobRun, *lines) {
	cs, log := fake.NewClientset(), &lines{}
	r := newRun(cs, log)
	r.created = func(j *batchv1.Job) { *created = j }
	return cs, r, log
}

func complete(j *batchv1.Job, rv string) *batchv1.Job {
	j = j.DeepCopy()
	j.ResourceVersion = rv
	j.Status.Succeeded = 1
	j.Status.Conditions = append(j.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
		batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue})
	return j
}

func running(j *batchv1.Job, rv string) *batchv1.Job {
	j = j.DeepCopy()
	j.ResourceVersion = rv
	one := int32(1)
	j.Status.Active = 1
	j.Status.Ready = &one
	return j
}

// watchSeq serves the watches of jobs from a list of scripts, one per
// watch call, and records the resourceVersion each was started from.
type watchSeq struct {
	mu      sync.Mutex
	scripts []func(w *watch.FakeWatcher)
	rvs     []string
}

func (s *watchSeq) react(action k8stesting.Action) (bool, watch.Interface, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wa := action.(k8stesting.WatchActionImpl)
	s.rvs = append(s.rvs, wa.WatchRestrictions.ResourceVersion)
	if len(s.scripts) == 0 {
		return true, watch.NewFake(), nil // a watch that never says anything
	}
	script := s.scripts[0]
	s.scripts = s.scripts[1:]
	w := watch.NewFake()
	go script(w)
	return true, w, nil
}

func (s *watchSeq) startedFrom() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rvs...)
}

// createdJob is the Job a run created, as the fake stored it.
func createdJob(t *testing.T, cs *fake.Clientset) *batchv1.Job {
	t.Helper()
	for _, a := range cs.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "jobs" {
			return c.GetObject().(*batchv1.Job)
		}
	}
	t.Fatal("no job was created")
	return nil
}

func TestWatchResumesAfterDroppedConnection(t *testing.T) {
	var created *batchv1.Job
	cs, r, log := newFakeRun(&created)
	seq := &watchSeq{scripts: []func(*watch.FakeWatcher){
		func(w *watch.FakeWatcher) {
			w.Modify(running(created, "11"))
			w.Stop() // the connection drops
		},
		func(w *watch.FakeWatcher) { w.Modify(complete(created, "12")) },
	}}
	cs.PrependWatchReactor("jobs", seq.react)
	res, err := r.run(context.Background())
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log)
	}
	if res.(map[string]any)["status"] != "Complete" {
		t.Errorf("result %v, want status Complete", res)
	}
	rvs := seq.startedFrom()
	if len(rvs) != 2 || rvs[1] != "11" {
		t.Errorf("watches started from resourceVersions %q, want a second one from 11, the last seen", rvs)
	}
	if !strings.Contains(log.String(), "DEBUG watch of job ns/"+created.Name+" dropped") {
		t.Errorf("the drop is not in the log:\n%s", log)
	}
}

func TestWatchRelistsWhenResourceVersionExpired(t *testing.T) {
	var created *batchv1.Job
	cs, r, log := newFakeRun(&created)
	seq := &watchSeq{scripts: []func(*watch.FakeWatcher){
		func(w *watch.FakeWatcher) {
			st := apierrors.NewResourceExpired("too old resource version: 5 (20)").Status()
			w.Error(&st)
		},
		func(w *watch.FakeWatcher) { w.Modify(complete(created, "21")) },
	}}
	cs.PrependWatchReactor("jobs", seq.react)
	if _, err := r.run(context.Background()); err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log)
	}
	lists := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "jobs" {
			lists++
		}
	}
	if lists != 2 {
		t.Errorf("jobs were listed %d times, want 2 (the start, and after 410 Expired)", lists)
	}
}

func TestWatchForbiddenFailsAtOnce(t *testing.T) {
	cs := fake.NewClientset()
	log := &lines{}
	r := newRun(cs, log)
	cs.PrependWatchReactor("jobs", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(jobsGR, "", errors.New(`User "system:serviceaccount:ns:runner" cannot watch resource "jobs"`))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.run(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot watch resource \"jobs\"") {
		t.Fatalf("run: %v, want the forbidden watch", err)
	}
	if ctx.Err() != nil {
		t.Errorf("a forbidden watch was retried until the deadline")
	}
}

func TestJobDeletedWhileWatched(t *testing.T) {
	var created *batchv1.Job
	cs, r, _ := newFakeRun(&created)
	seq := &watchSeq{scripts: []func(*watch.FakeWatcher){
		func(w *watch.FakeWatcher) { w.Delete(running(created, "30")) },
	}}
	cs.PrependWatchReactor("jobs", seq.react)
	_, err := r.run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "was deleted before it finished") {
		t.Fatalf("run: %v, want the Job deleted", err)
	}
}

func TestCreateTakesAnotherNameWhenTaken(t *testing.T) {
	cs := fake.NewClientset()
	log := &lines{}
	r := newRun(cs, log)
	var tried []string
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		j := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		tried = append(tried, j.Name)
		if len(tried) == 1 {
			return true, nil, apierrors.NewAlreadyExists(jobsGR, j.Name)
		}
		return false, nil, nil
	})
	j, err := r.create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tried) != 2 || tried[0] == tried[1] || j.Name != tried[1] {
		t.Errorf("names tried %q, created %q: want a second, different name", tried, j.Name)
	}
	for _, n := range tried {
		if !strings.HasPrefix(n, "load-3-") || len(n) != len("load-3-")+5 {
			t.Errorf("name %q: want load-3- and a 5-character suffix", n)
		}
	}
}

func TestCreateRefusedSaysWhy(t *testing.T) {
	cs := fake.NewClientset()
	r := newRun(cs, &lines{})
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "x",
			nil)
	})
	_, err := r.run(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "create job ns/load-3-") || !strings.Contains(err.Error(), "is invalid") {
		t.Fatalf("run: %v, want the API server's refusal", err)
	}
}

func TestDeleteFailureFailsTheTask(t *testing.T) {
	var created *batchv1.Job
	cs, r, _ := newFakeRun(&created)
	cs.PrependWatchReactor("jobs", (&watchSeq{scripts: []func(*watch.FakeWatcher){
		func(w *watch.FakeWatcher) { w.Modify(complete(created, "2")) },
	}}).react)
	deletes := 0
	cs.PrependReactor("delete", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		deletes++
		return true, nil, apierrors.NewForbidden(jobsGR, created.Name, errors.New(`cannot delete resource "jobs"`))
	})
	_, err := r.run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "succeeded, but deleting it failed") || !strings.Contains(err.Error(), `cannot delete resource "jobs"`) {
		t.Fatalf("run: %v, want the failed deletion", err)
	}
	if deletes != 1 {
		t.Errorf("a refused delete was tried %d times, want once", deletes)
	}
}

func TestDeleteRetriesServerErrors(t *testing.T) {
	var created *batchv1.Job
	cs, r, _ := newFakeRun(&created)
	cs.PrependWatchReactor("jobs", (&watchSeq{scripts: []func(*watch.FakeWatcher){
		func(w *watch.FakeWatcher) { w.Modify(complete(created, "2")) },
	}}).react)
	deletes := 0
	cs.PrependReactor("delete", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if deletes++; deletes < 3 {
			return true, nil, apierrors.NewServiceUnavailable("the server is shutting down")
		}
		return false, nil, nil
	})
	if _, err := r.run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if deletes != 3 {
		t.Errorf("%d deletes, want 3 (two refused by a server going down)", deletes)
	}
}

// After a restart, an API server refuses requests until its caches have
// filled (though /readyz says ok): a watch that worked before and is
// refused when it resumes tries again.
func TestWatchRefusedAfterDropIsRetried(t *testing.T) {
	var created *batchv1.Job
	cs, r, log := newFakeRun(&created)
	seq := &watchSeq{scripts: []func(*watch.FakeWatcher){
		func(w *watch.FakeWatcher) { w.Modify(running(created, "11")); w.Stop() },
		nil, // refused
		func(w *watch.FakeWatcher) { w.Modify(complete(created, "12")) },
	}}
	refused := 0
	cs.PrependWatchReactor("jobs", func(a k8stesting.Action) (bool, watch.Interface, error) {
		seq.mu.Lock()
		next := len(seq.scripts) > 0 && seq.scripts[0] == nil
		if next {
			seq.scripts = seq.scripts[1:]
		}
		seq.mu.Unlock()
		if next {
			refused++
			return true, nil, apierrors.NewUnauthorized("Unauthorized")
		}
		return seq.react(a)
	})
	if _, err := r.run(context.Background()); err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log)
	}
	if refused != 1 {
		t.Errorf("%d refused watches, want 1", refused)
	}
}

func TestCancelDeletesTheJob(t *testing.T) {
	cs := fake.NewClientset()
	log := &lines{}
	r := newRun(cs, log)
	ctx, cancel := context.WithCancelCause(context.Background())
	r.created = func(*batchv1.Job) {
		time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("task timed out after 2s")) })
	}
	var deleted []metav1.DeleteOptions
	var deleteCtxErr error
	cs.PrependReactor("delete", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		deleted = append(deleted, a.(k8stesting.DeleteActionImpl).DeleteOptions)
		deleteCtxErr = ctx.Err() // the task's context: cancelled by now
		return false, nil, nil
	})
	_, err := r.run(ctx)
	if err == nil {
		t.Fatal("run succeeded after its task was cancelled")
	}
	if len(deleted) != 1 || deleted[0].PropagationPolicy == nil || *deleted[0].PropagationPolicy != metav1.DeletePropagationBackground {
		t.Fatalf("deletes %+v, want one with background propagation", deleted)
	}
	if deleteCtxErr == nil {
		t.Errorf("the task's context was not cancelled when the Job was deleted")
	}
	if _, err := cs.BatchV1().Jobs("ns").Get(context.Background(), createdJob(t, cs).Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Job is still there: %v", err)
	}
	if !strings.Contains(log.String(), "WARNING task ended (task timed out after 2s); deleted job ns/load-3-") {
		t.Errorf("log:\n%s", log)
	}
}

func TestKeepJobWhenAsked(t *testing.T) {
	var created *batchv1.Job
	cs, r, _ := newFakeRun(&created)
	r.delete = false
	cs.PrependWatchReactor("jobs", (&watchSeq{scripts: []func(*watch.FakeWatcher){
		func(w *watch.FakeWatcher) { w.Modify(complete(created, "2")) },
	}}).react)
	if _, err := r.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "delete" {
			t.Errorf("delete_job_after_completion=False, yet %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestFailureMessage(t *testing.T) {
	j := testJob()
	j.Name, j.Namespace = "load-x", "ns"
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
		Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	failed := func(name string, at time.Time, code int32) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0)},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "main",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", FinishedAt: metav1.NewTime(at)}}}}}}
	}
	pods := []corev1.Pod{failed("load-x-late", t0.Add(2*time.Minute), 3), failed("load-x-early", t0.Add(time.Minute), 1)}
	logs := &podLogs{streams: map[string]*logStream{
		"load-x-late/main":  {pod: "load-x-late", container: "main", lines: []string{"reading input", "error: disk full"}},
		"load-x-early/main": {pod: "load-x-early", container: "main", lines: []string{"first try"}},
	}, level: new(sdk.Level)}
	err := jobFailure(j, pods, logs)
	want := "job ns/load-x failed: BackoffLimitExceeded: Job has reached the specified backoff limit; pod load-x-late exited with code 3 (Error); last log lines:\nreading input\nerror: disk full"
	if err == nil || err.Error() != want {
		t.Errorf("failure:\n%v\nwant:\n%s", err, want)
	}
	if err := jobFailure(complete(testJob(), "1"), pods, logs); err != nil {
		t.Errorf("a Complete Job failed: %v", err)
	}
}

func TestLogStreamSkipsWhatItSent(t *testing.T) {
	s := &logStream{}
	read := func(in ...string) []string {
		var out []string
		same := 0
		for _, l := range in {
			if text, ok := s.accept(l, &same); ok {
				out = append(out, text)
			}
		}
		return out
	}
	const a, b, c = "2026-01-01T00:00:01.5Z", "2026-01-01T00:00:02.25Z", "2026-01-01T00:00:03Z"
	got := read(a+" one", b+" two", b+" two again")
	if strings.Join(got, "|") != "one|two|two again" {
		t.Fatalf("first read: %q", got)
	}
	if since := s.since(); !since.Equal(time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC)) {
		t.Errorf("since %v, want the second of the last line", since)
	}
	// the catch-up read starts at that second: the two lines stamped b
	// were sent, a third one with the same stamp was not
	got = read(b+" two", b+" two again", b+" two, third", c+" three", c+" three again")
	if strings.Join(got, "|") != "two, third|three|three again" {
		t.Errorf("catch-up read: %q", got)
	}
	got = read(a+" one", c+" three", c+" three again")
	if len(got) != 0 {
		t.Errorf("a read of old lines sent %q", got)
	}
	if tail := s.lastLines(); strings.Join(tail, "|") != "one|two|two again|two, third|three|three again" {
		t.Errorf("tail %q", tail)
	}
}

func TestRetriable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), true},
		{apierrors.NewServiceUnavailable("restarting"), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewInternalError(errors.New("etcd")), true},
		{apierrors.NewForbidden(jobsGR, "x", errors.New("no")), false},
		{apierrors.NewUnauthorized("token expired"), false},
		{apierrors.NewBadRequest("bad selector"), false},
		{apierrors.NewNotFound(jobsGR, "x"), false},
	} {
		if got := retriable(c.err); got != c.want {
			t.Errorf("retriable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
