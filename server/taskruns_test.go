package server

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// TestTaskRunPages: a run of a task mapped over 250 elements (one
// failing) and a task after it, read a page of 100 at a time, gives the
// task runs GET /runs/{id} gives all at once; filters by state and by
// task; a cursor that names no task run is refused; /tasks sums the
// mapped task up.
func TestTaskRunPages(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	dev, viewer, worker := ts.token(t, string(auth.Developer)), ts.token(t, string(auth.Viewer)), ts.token(t, string(auth.Worker))
	ts.deploy(t, dev, DeploymentSpec{})
	var run store.Run
	if err := dev.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	var claimed []Claimed
	if err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Slots: 1}, Max: 1}, &claimed); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	g := &runtime.Graph{Flow: "F"}
	inc := g.Add(&runtime.Node{Name: "inc", Task: "inc", Kind: runtime.TaskNode, Mapped: true})
	g.Add(&runtime.Node{Name: "total", Task: "total", Kind: runtime.TaskNode, Inputs: []runtime.Input{{From: inc}}})
	rec := store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: run.ID}, Graph: g, FlushEvery: time.Millisecond,
		Send: func(ctx context.Context, w *store.Write) error {
			return worker.Do(ctx, "POST", "/runs/"+run.ID+"/writes", WriteRequest{Worker: "w1", Write: *w}, nil)
		}})
	seq := uint64(0)
	emit := func(e runtime.Event) {
		seq++
		e.Seq, e.Time = seq, time.Now()
		rec.Emit(e)
	}
	const n = 250
	emit(runtime.Event{Kind: runtime.FlowStarted, Node: runtime.NoNode, MapIndex: -1})
	emit(runtime.Event{Kind: runtime.MapExpanded, TaskRun: "inc", Node: inc, MapIndex: -1, Children: n})
	for i := range n {
		name, st := fmt.Sprintf("inc[%d]", i), runtime.Success
		if i == 7 {
			st = runtime.Failed
		}
		emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, Node: inc, MapIndex: i, Attempt: 1, State: runtime.Running})
		emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, Node: inc, MapIndex: i, Attempt: 1, State: st})
	}
	emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "inc", Node: inc, MapIndex: -1, Attempt: 1, State: runtime.Failed})
	emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Failed, Node: runtime.NoNode, MapIndex: -1})
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	var whole RunDetail
	if err := viewer.Do(ctx, "GET", "/runs/"+run.ID, nil, &whole); err != nil {
		t.Fatal(err)
	}
	var paged []store.TaskRun
	pages, after := 0, ""
	for {
		var p TaskRunPage
		if err := viewer.Do(ctx, "GET", Query("/runs/"+run.ID+"/task-runs", "limit", "100", "after", after), nil, &p); err != nil {
			t.Fatal(err)
		}
		pages++
		paged = append(paged, p.TaskRuns...)
		if p.Total != len(whole.TaskRuns) || p.Counts["Failed"] != 2 {
			t.Errorf("page %d: total %d, counts %v; want %d, 2 Failed", pages, p.Total, p.Counts, len(whole.TaskRuns))
		}
		if after = p.Next; after == "" {
			break
		}
	}
	if len(whole.TaskRuns) != n+1 || pages != 3 || !reflect.DeepEqual(paged, whole.TaskRuns) {
		t.Errorf("%d pages of %d task runs; want 3 pages of the %d GET /runs/{id} gives, equal", pages, len(paged), len(whole.TaskRuns))
	}

	var failed TaskRunPage
	if err := viewer.Do(ctx, "GET", Query("/runs/"+run.ID+"/task-runs", "state", "failed"), nil, &failed); err != nil {
		t.Fatal(err)
	}
	if len(failed.TaskRuns) != 2 || failed.Total != 2 || failed.Next != "" {
		t.Errorf("state=failed: %+v; want inc[7] and inc", failed)
	}
	var one TaskRunPage
	if err := viewer.Do(ctx, "GET", Query("/runs/"+run.ID+"/task-runs", "task", "inc", "limit", "5", "after", "inc[3]"), nil, &one); err != nil {
		t.Fatal(err)
	}
	if len(one.TaskRuns) != 5 || one.TaskRuns[0].Name != "inc[4]" || one.Next != "inc[8]" || one.Total != n+1 {
		t.Errorf("task=inc after inc[3]: %d task runs from %v, next %q, total %d", len(one.TaskRuns), one.TaskRuns, one.Next, one.Total)
	}
	if err := viewer.Do(ctx, "GET", Query("/runs/"+run.ID+"/task-runs", "after", "nosuch"), nil, nil); status(err) != 422 {
		t.Errorf("a cursor naming no task run: %v, want 422", err)
	}
	var bare RunDetail
	if err := viewer.Do(ctx, "GET", "/runs/"+run.ID+"?task_runs=false", nil, &bare); err != nil || len(bare.TaskRuns) != 0 || bare.Run.State != runtime.Failed {
		t.Errorf("task_runs=false: %d task runs, %s, %v", len(bare.TaskRuns), bare.Run.State, err)
	}

	var tl TaskList
	if err := viewer.Do(ctx, "GET", "/runs/"+run.ID+"/tasks", nil, &tl); err != nil {
		t.Fatal(err)
	}
	if len(tl.Tasks) != 1 || tl.Tasks[0].Name != "inc" || tl.Tasks[0].Runs != n || tl.Tasks[0].Done != n || tl.Tasks[0].Failed != 1 ||
		tl.Tasks[0].State != runtime.Failed || tl.From.IsZero() || tl.To.Before(tl.Tasks[0].FinishedAt) {
		t.Errorf("tasks: %+v", tl)
	}
}
