package server

import (
	"context"
	"slices"
	"testing"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// TestChildRuns: the holder of a run (its worker's token, or the run
// token made for it) makes runs of deployments as its children
// (run_deployment in its flow), follows and cancels them; other workers
// and developers may not make them; a run not being run makes none; and
// cancelling a run cancels the runs it made, and theirs.
func TestChildRuns(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	ts.deploy(t, ts.admin, DeploymentSpec{})
	var parent store.Run
	if err := ts.admin.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &parent); err != nil {
		t.Fatal(err)
	}
	w, other, dev := ts.token(t, string(auth.Worker)), ts.token(t, string(auth.Worker)), ts.token(t, string(auth.Developer))
	claim := func(c *Client, worker string) []Claimed {
		t.Helper()
		var out []Claimed
		if err := c.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: worker, Slots: 1}, Max: 1}, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := claim(w, "w1"); len(got) != 1 || got[0].Run.ID != parent.ID {
		t.Fatalf("claim of the parent: %+v", got)
	}
	child := func(c *Client, of string, req ChildRunRequest) (store.Run, error) {
		var r store.Run
		err := c.Do(ctx, "POST", "/runs/"+of+"/children", req, &r)
		return r, err
	}
	req := ChildRunRequest{Deployment: "F/nightly", TaskRun: "run_deployment[1]"}

	a, err := child(w, parent.ID, req)
	if err != nil {
		t.Fatalf("the holder's worker token: %v", err)
	}
	if a.Parent != parent.ID || a.ParentTaskRun != "run_deployment[1]" || a.State != runtime.Scheduled || a.Server == nil {
		t.Errorf("the child run: %+v", a)
	}
	for name, c := range map[string]*Client{"another worker": other, "a developer": dev} {
		if _, err := child(c, parent.ID, req); status(err) != 403 {
			t.Errorf("%s makes a child run: %v, want 403", name, err)
		}
	}
	if _, err := child(w, parent.ID, ChildRunRequest{Deployment: "F"}); status(err) != 422 {
		t.Errorf("a deployment without a name: %v, want 422", err)
	}
	if _, err := child(w, parent.ID, ChildRunRequest{Deployment: "F/none"}); status(err) != 404 {
		t.Errorf("no such deployment: %v, want 404", err)
	}

	// The holder follows its child; another worker may not look.
	var d RunDetail
	if err := w.Do(ctx, "GET", "/runs/"+a.ID, nil, &d); err != nil || d.Run.Parent != parent.ID {
		t.Errorf("the holder reads its child: %+v, %v", d.Run, err)
	}
	if err := other.Do(ctx, "GET", "/runs/"+a.ID, nil, nil); status(err) != 403 {
		t.Errorf("another worker reads the child: %v, want 403", err)
	}

	// The run token of the parent, as a Kubernetes Job's pod has it.
	var rt NewTokenReply
	if err := w.Do(ctx, "POST", "/runs/"+parent.ID+"/token", RunTokenRequest{Worker: "w1"}, &rt); err != nil {
		t.Fatal(err)
	}
	run := &Client{Base: ts.admin.Base, Token: rt.Token}
	b, err := child(run, parent.ID, req)
	if err != nil {
		t.Fatalf("the parent's run token: %v", err)
	}
	if err := run.Do(ctx, "GET", "/runs/"+b.ID, nil, nil); err != nil {
		t.Errorf("the run token reads its child: %v", err)
	}
	if err := run.Do(ctx, "POST", "/runs/"+b.ID+"/cancel", nil, nil); err != nil {
		t.Errorf("the run token cancels its child: %v", err)
	}
	if err := other.Do(ctx, "POST", "/runs/"+a.ID+"/cancel", nil, nil); status(err) != 403 {
		t.Errorf("another worker cancels the child: %v, want 403", err)
	}

	// Child a is claimed by the other worker and makes a grandchild; the
	// parent's worker may not make a run of a's.
	if got := claim(other, "w2"); len(got) != 1 || got[0].Run.ID != a.ID {
		t.Fatalf("claim of the child: %+v", got)
	}
	g, err := child(other, a.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := child(w, a.ID, req); status(err) != 403 {
		t.Errorf("the parent's worker makes a run of its child's: %v, want 403", err)
	}
	c, err := child(w, parent.ID, req) // stays Scheduled
	if err != nil {
		t.Fatal(err)
	}

	// The runs a run made, listed (the web UI's run page).
	for of, want := range map[string][]string{parent.ID: {c.ID, b.ID, a.ID}, a.ID: {g.ID}, g.ID: nil} {
		var list RunList
		if err := ts.admin.Do(ctx, "GET", "/runs?parent="+of, nil, &list); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range list.Runs {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("the runs %s made: %v, want %v", of, got, want)
		}
	}

	// Cancelling the parent cancels what it made, and what those made.
	if err := dev.Do(ctx, "POST", "/runs/"+parent.ID+"/cancel", nil, nil); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]runtime.State{parent.ID: runtime.Cancelling, a.ID: runtime.Cancelling, g.ID: runtime.Cancelled, c.ID: runtime.Cancelled, b.ID: runtime.Cancelled} {
		var d RunDetail
		if err := ts.admin.Do(ctx, "GET", "/runs/"+id, nil, &d); err != nil {
			t.Fatal(err)
		}
		if d.Run.State != want {
			t.Errorf("run %s (made by %q) is %s, want %s", id, d.Run.Parent, d.Run.State, want)
		}
	}
	if _, err := child(w, parent.ID, req); status(err) != 409 {
		t.Errorf("a Cancelling run makes a run: %v, want 409", err)
	}
}
