package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestPoolJobTemplate: a pool's Job template and the job variables it
// allows, and a deployment's job variables and timeout, are kept as given on both
// databases; a pool set again without them has none.
func TestPoolJobTemplate(t *testing.T) { eachBackend(t, testPoolJobTemplate) }

func testPoolJobTemplate(t *testing.T, b backend) {
	s, _ := b.open(t)
	ctx, now := context.Background(), time.Now()
	tmpl := json.RawMessage(`{"metadata":{"namespace":"etl"},"spec":{"template":{"spec":{"containers":[{"image":"wfsh:v1","name":"wfsh"}]}}}}`)
	if err := s.PutPool(ctx, Pool{Name: "k8s", Type: "kubernetes", JobTemplate: tmpl, JobVariables: []string{"resources", "image"}}, now); err != nil {
		t.Fatal(err)
	}
	p, err := s.GetPool(ctx, "k8s")
	if err != nil || string(p.JobTemplate) != string(tmpl) || !slices.Equal(p.JobVariables, []string{"resources", "image"}) {
		t.Fatalf("pool %+v, %v", p, err)
	}
	if _, err := s.PutBundle(ctx, "b", []byte("bundle"), now); err != nil {
		t.Fatal(err)
	}
	vars := json.RawMessage(`{"resources":{"limits":{"memory":"2Gi"}}}`)
	d, err := s.PutDeployment(ctx, Deployment{ID: "d1", Flow: "F", Name: "n", File: "f.star", Bundle: "b", Pool: "k8s", JobVariables: vars,
		Timeout: 90 * time.Second}, now)
	if err != nil || string(d.JobVariables) != string(vars) || d.Timeout != 90*time.Second {
		t.Fatalf("deployment %s %v, %v", d.JobVariables, d.Timeout, err)
	}
	// Deployed again without them: none.
	if d, err = s.PutDeployment(ctx, Deployment{ID: "d2", Flow: "F", Name: "n", File: "f.star", Bundle: "b", Pool: "k8s"}, now); err != nil || d.JobVariables != nil || d.Timeout != 0 {
		t.Fatalf("redeployed: %s, %v", d.JobVariables, err)
	}
	if err := s.PutPool(ctx, Pool{Name: "k8s", Type: "kubernetes"}, now); err != nil {
		t.Fatal(err)
	}
	ps, err := s.ListPools(ctx)
	if err != nil || len(ps) != 1 || ps[0].JobTemplate != nil || len(ps[0].JobVariables) != 0 {
		t.Fatalf("pools %+v, %v", ps, err)
	}
	if _, err := s.GetPool(ctx, "none"); !errors.Is(err, ErrNoSuch) {
		t.Errorf("a missing pool: %v", err)
	}
}
