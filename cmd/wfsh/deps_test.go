package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// heavyDeps are the client libraries of the integrations that run as
// plugin executables of their own (wfsh-plugin-gcp, wfsh-plugin-kubernetes):
// linked into wfsh, they would cost every run tens of milliseconds of
// start-up (SPEC §3).
var heavyDeps = []string{
	"k8s.io/client-go",
	"k8s.io/api",
	"k8s.io/apimachinery",
	"cloud.google.com/go",
	"google.golang.org/api",
}

// TestCoreStaysLight fails if the wfsh executable's dependencies gain
// Kubernetes' or Google Cloud's client libraries.
func TestCoreStaysLight(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gocmd, "list", "-deps", "github.com/wfsh/wfsh/cmd/wfsh").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	has := map[string]bool{}
	for _, d := range deps {
		has[d] = true
		for _, heavy := range heavyDeps {
			if d == heavy || strings.HasPrefix(d, heavy+"/") {
				t.Errorf("cmd/wfsh depends on %s: the %s integration must stay a plugin executable of its own", d, heavy)
			}
		}
	}
	// The list is the real one: it has what wfsh is known to link.
	for _, want := range []string{"go.starlark.net/starlark", "github.com/wfsh/wfsh/plugins/host", "github.com/hashicorp/go-plugin"} {
		if !has[want] {
			t.Errorf("go list -deps lacks %s; got %d packages", want, len(deps))
		}
	}
}
