package store

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the store away from Starlark and the command line: it
// imports the runtime, SQLite and the standard library only.
func TestImports(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gocmd, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(p, "github.com/wfsh/wfsh/"):
			if p != "github.com/wfsh/wfsh/store" && p != "github.com/wfsh/wfsh/runtime" {
				t.Errorf("store imports %s", p)
			}
		case strings.HasPrefix(p, "go.starlark.net"), strings.HasPrefix(p, "github.com/spf13/"):
			t.Errorf("store imports %s", p)
		}
	}
}
