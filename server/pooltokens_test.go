package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// TestEnsurePools: a declared pool is made of its type and its token
// reads it as a worker of that pool; declaring again changes nothing; a
// new value revokes the old one; a token of another role, or not a
// token, is refused.
func TestEnsurePools(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	first := auth.New().Plaintext
	decl := []PoolToken{{Pool: "k8s", Type: "kubernetes", Token: first}, {Pool: "gpu", Type: "kubernetes", Token: auth.New().Plaintext}}
	for range 2 { // at every start
		if err := ts.srv.EnsurePools(ctx, decl); err != nil {
			t.Fatal(err)
		}
	}
	w := &Client{Base: ts.admin.Base, Token: first}
	var p store.Pool
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); err != nil || p.Type != "kubernetes" {
		t.Fatalf("the declared token reads its pool: %+v, %v", p, err)
	}
	if err := w.Do(ctx, "GET", "/pools/gpu", nil, &p); status(err) != 403 {
		t.Errorf("pool k8s's token reading pool gpu: %v, want 403", err)
	}
	toks, err := ts.st.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(toks); n != 3 { // the admin's and two
		t.Errorf("%d tokens after declaring twice, want 3: %+v", n, toks)
	}

	// The Secret is given a new value: the old one stops working.
	second := auth.New().Plaintext
	decl[0].Token = second
	if err := ts.srv.EnsurePools(ctx, decl); err != nil {
		t.Fatal(err)
	}
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); status(err) != 401 {
		t.Errorf("the replaced token: %v, want 401", err)
	}
	w.Token = second
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); err != nil {
		t.Errorf("the new token: %v", err)
	}

	var bad *BadPoolToken
	err = ts.srv.EnsurePools(ctx, []PoolToken{{Pool: "k8s", Type: "kubernetes", Token: ts.admin.Token}})
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), "role admin") {
		t.Errorf("the admin's token declared as a pool's: %v", err)
	}
	err = ts.srv.EnsurePools(ctx, []PoolToken{{Pool: "k8s", Type: "kubernetes", Token: "hunter2"}})
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), `does not start with "wfsh_"`) {
		t.Errorf("not a token: %v", err)
	}
}
