package tui_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDeps checks the package's place in the house: the view depends on
// runtime (events, states) and the Charm libraries, not on how flows are
// written, run or stored.
func TestDeps(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gocmd, "list", "-deps", "github.com/wfsh/wfsh/tui").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/wfsh/wfsh/") && d != "github.com/wfsh/wfsh/tui" && d != "github.com/wfsh/wfsh/runtime" {
			t.Errorf("tui depends on %s: it may only use runtime", d)
		}
		if strings.HasPrefix(d, "go.starlark.net") || strings.HasPrefix(d, "charm.land/lipgloss") {
			t.Errorf("tui depends on %s", d)
		}
	}
	if !strings.Contains(string(out), "github.com/wfsh/wfsh/runtime\n") {
		t.Errorf("go list -deps lacks runtime:\n%s", out)
	}
}
