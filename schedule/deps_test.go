package schedule

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPure fails if the package imports another wfsh package: it is times
// in, times out, shared by whatever schedules runs.
func TestPure(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gocmd, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	seen := map[string]bool{}
	for _, d := range deps {
		seen[d] = true
		if strings.HasPrefix(d, "github.com/wfsh/wfsh/") && d != "github.com/wfsh/wfsh/schedule" {
			t.Errorf("schedule imports %s", d)
		}
	}
	// The list is the real one: it has the parsers the package uses.
	for _, want := range []string{"github.com/robfig/cron/v3", "github.com/teambition/rrule-go"} {
		if !seen[want] {
			t.Errorf("go list -deps lacks %s: %v", want, deps)
		}
	}
}
