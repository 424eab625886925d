package builtins

import (
	"os"
	"path/filepath"
	"testing"
)

// A bad option of @task or @flow is reported as it is, at the decorator:
// Starlark's "for parameter \"timeout\"" is not a flow parameter, so no
// hint about task results is added.
func TestBadOptionMessages(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"@task(timeout=\"abc\")\ndef a():\n    return 1\n",
			`t.star:1:6: task: for parameter "timeout": bad duration "abc" (want e.g. "30s", "1m30s" or a number of seconds)`},
		{"@task(cache_for=\"soon\")\ndef a():\n    return 1\n",
			`t.star:1:6: task: for parameter "cache_for": bad duration "soon" (want e.g. "30s", "1m30s" or a number of seconds)`},
		{"@flow(name=5)\ndef f():\n    pass\n",
			`t.star:1:6: flow: for parameter "name": got int, want string`},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "t.star")
		if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		_, err := Load("t.star", LoadOptions{})
		if err == nil || err.Error() != c.want {
			t.Errorf("%q:\ngot  %v\nwant %s", c.src, err, c.want)
		}
	}
}
