package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// TestChildRuns records a run and two child flow runs of its mapped
// subflow node: each child is a run with its parent's id and task run,
// listed by ChildRuns in the order they started, and left out of
// ListRuns with TopLevel.
func TestChildRuns(t *testing.T) { eachBackend(t, testChildRuns) }

func testChildRuns(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx := context.Background()
	recordRun(t, s, "parent", "Month", events("parent", runtime.Success), RecorderOptions{})
	for i, id := range []string{"child-z", "child-a"} {
		evs := events(id, runtime.Failed)
		for j := range evs {
			evs[j].Time = evs[j].Time.Add(time.Duration(i+1) * time.Minute)
		}
		task := "daily[" + strconv.Itoa(i) + "]"
		recordRun(t, s, id, "Daily", evs, RecorderOptions{Run: RunInfo{Parent: "parent", ParentTaskRun: task}})
	}
	kids, err := s.ChildRuns(ctx, "parent")
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 2 || kids[0].ID != "child-z" || kids[1].ID != "child-a" {
		t.Fatalf("child runs %+v, want child-z then child-a", kids)
	}
	for i, k := range kids {
		if k.Parent != "parent" || k.ParentTaskRun != "daily["+strconv.Itoa(i)+"]" || k.Flow != "Daily" || k.State != runtime.Failed {
			t.Errorf("child %d: %+v", i, k)
		}
	}
	if got, err := s.GetRun(ctx, "parent"); err != nil || got.Parent != "" || got.ParentTaskRun != "" {
		t.Errorf("parent run: %+v, %v", got, err)
	}
	all, err := s.ListRuns(ctx, RunFilter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("all runs: %d, %v; want 3", len(all), err)
	}
	top, err := s.ListRuns(ctx, RunFilter{TopLevel: true})
	if err != nil || len(top) != 1 || top[0].ID != "parent" {
		t.Fatalf("top-level runs: %+v, %v; want the parent only", top, err)
	}
	if none, err := s.ChildRuns(ctx, "child-a"); err != nil || len(none) != 0 {
		t.Errorf("children of a childless run: %+v, %v", none, err)
	}
}

// TestRecorderLeavesChildEvents: a recorder fed the events of a child
// flow run besides its own (a worker's, whose one sink gets every event)
// records only its own run.
func TestRecorderLeavesChildEvents(t *testing.T) {
	s, _ := openTemp(t)
	evs := events("parent", runtime.Success)
	child := events("child", runtime.Failed)
	for i := range child {
		child[i].Parent, child[i].ParentTaskRun = "parent", "daily"
		if child[i].TaskRun != "" {
			child[i].TaskRun = "child-" + child[i].TaskRun
		}
	}
	recordRun(t, s, "parent", "Month", append(append([]runtime.Event{}, evs[:3]...), append(child, evs[3:]...)...), RecorderOptions{})
	r, err := s.GetRun(context.Background(), "parent")
	if err != nil || r.State != runtime.Success {
		t.Fatalf("parent %+v, %v; want Success", r, err)
	}
	if _, err := s.GetRun(context.Background(), "child"); err == nil {
		t.Errorf("the child run was recorded by its parent's recorder")
	}
	trs, err := s.TaskRuns(context.Background(), "parent")
	if err != nil || len(trs) != 4 {
		t.Errorf("parent's task runs %+v, %v; want its own 4", trs, err)
	}
}
