package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNoLipgloss fails if wfsh links charm.land/lipgloss/v2. Its package
// initialisation works out the colours of the terminal on standard output
// when wfsh starts, whatever the command: it reads terminfo, and inside
// tmux it runs `tmux info` as a child process. That made every `wfsh run`
// in a tmux pane 2x slower (docs/performance.md, "The live view"). The
// live view styles with github.com/charmbracelet/x/ansi, which lipgloss is
// built on, and leaves colour downsampling to bubbletea's renderer, which
// only runs with --tui.
func TestNoLipgloss(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gocmd, "list", "-deps", "github.com/wfsh/wfsh/cmd/wfsh").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	has := map[string]bool{}
	for _, d := range deps {
		has[d] = true
		if d == "charm.land/lipgloss/v2" || strings.HasPrefix(d, "charm.land/lipgloss/v2/") {
			t.Errorf("cmd/wfsh depends on %s, whose package init costs every wfsh command milliseconds in a terminal (see this test's comment)", d)
		}
	}
	// The list is the real one: the live view is linked.
	for _, want := range []string{"github.com/wfsh/wfsh/tui", "charm.land/bubbletea/v2"} {
		if !has[want] {
			t.Errorf("go list -deps lacks %s; got %d packages", want, len(deps))
		}
	}
}
