package server

import (
	"context"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// TestSubflowRunsAPI: the holder of a run (its worker's token, or the
// run token a Kubernetes Job's pod has) makes the runs of its subflows
// and reports for them as for the run; another worker, a developer, or
// the run token of another run may not; an id taken is 409.
func TestSubflowRunsAPI(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	ts.deploy(t, ts.admin, DeploymentSpec{})
	var runs [2]store.Run
	for i := range runs {
		if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &runs[i]); err != nil {
			t.Fatal(err)
		}
	}
	w, other, dev := ts.token(t, string(auth.Worker)), ts.token(t, string(auth.Worker)), ts.token(t, string(auth.Developer))
	var claimed []Claimed
	if err := w.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Slots: 2}, Max: 2}, &claimed); err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %+v, %v", claimed, err)
	}
	parent, otherRun := runs[0], runs[1]
	tokenOf := func(run string) *Client {
		var rt NewTokenReply
		if err := w.Do(ctx, "POST", "/runs/"+run+"/token", RunTokenRequest{Worker: "w1"}, &rt); err != nil {
			t.Fatal(err)
		}
		return &Client{Base: ts.admin.Base, Token: rt.Token}
	}
	runTok, otherTok := tokenOf(parent.ID), tokenOf(otherRun.ID)
	sub := func(c *Client, of, id string) (store.Run, error) {
		var r store.Run
		err := c.Do(ctx, "POST", "/runs/"+of+"/subflows", SubflowRequest{ID: id, Flow: "Daily", TaskRun: "Daily", Worker: "w1"}, &r)
		return r, err
	}
	const id1, id2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	a, err := sub(w, parent.ID, id1)
	if err != nil {
		t.Fatalf("the worker holding the run: %v", err)
	}
	if a.Parent != parent.ID || a.SubflowOf != parent.ID || a.State != runtime.Pending || a.Server == nil || a.Flow != "Daily" {
		t.Errorf("the subflow's run: %+v", a)
	}
	for name, c := range map[string]*Client{"another worker": other, "a developer": dev, "another run's token": otherTok} {
		if _, err := sub(c, parent.ID, id2); status(err) != 403 {
			t.Errorf("%s makes a subflow's run: %v, want 403", name, err)
		}
	}
	if _, err := sub(w, parent.ID, id1); status(err) != 409 {
		t.Errorf("an id taken: %v, want 409", err)
	}
	if _, err := sub(w, parent.ID, "not-an-id"); status(err) != 422 {
		t.Errorf("a bad id: %v, want 422", err)
	}
	// A parent that resumes no run has no child run to resume.
	err = w.Do(ctx, "POST", "/runs/"+parent.ID+"/subflows", SubflowRequest{ID: id2, Flow: "Daily", TaskRun: "Daily", Worker: "w1", ResumedFrom: id1}, nil)
	if status(err) != 422 {
		t.Errorf("a subflow's run resuming a run that is not the resumed run's child: %v, want 422", err)
	}
	// The run's token makes one, a subflow of it, and reports for both.
	b, err := sub(runTok, a.ID, id2)
	if err != nil || b.SubflowOf != parent.ID || b.Parent != a.ID {
		t.Fatalf("the run token makes a subflow's subflow: %+v, %v", b, err)
	}
	write := func(c *Client, run string) error {
		return c.Do(ctx, "POST", "/runs/"+run+"/writes", WriteRequest{Worker: "w1", Write: store.Write{Start: &store.Start{Time: time.Now()}}}, nil)
	}
	for _, run := range []string{a.ID, b.ID} {
		if err := write(runTok, run); err != nil {
			t.Errorf("the run token reports for subflow run %s: %v", run, err)
		}
		if err := write(otherTok, run); status(err) != 403 {
			t.Errorf("another run's token reports for subflow run %s: %v, want 403", run, err)
		}
	}
	// What a resumed run's child run resumes is read as the run's is:
	// the run's token may (a run that resumes none: 404), another
	// run's may not.
	resumedOf := func(c *Client, run string) error {
		return c.Do(ctx, "GET", Query("/runs/"+run+"/resumed", "worker", "w1", "task_run", "Daily"), nil, nil)
	}
	for _, run := range []string{parent.ID, a.ID} {
		if err := resumedOf(runTok, run); status(err) != 404 {
			t.Errorf("the run token reads what subflow run %s resumes: %v, want 404 (it resumes none)", run, err)
		}
		if err := resumedOf(otherTok, run); status(err) != 403 {
			t.Errorf("another run's token reads what run %s resumes: %v, want 403", run, err)
		}
	}
	var d RunDetail
	if err := w.Do(ctx, "GET", "/runs/"+b.ID, nil, &d); err != nil || d.Run.State != runtime.Running {
		t.Errorf("the subflow's run after its start: %s, %v", d.Run.State, err)
	}
}
