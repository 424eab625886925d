package builtins

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FindPluginLoad finds load("@name") in the flow file and in the files it
// loads, through cycles, without running them; "@" elsewhere is no load.
func TestFindPluginLoad(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"plain.star":   "print('@shell')\n@task\ndef a():\n    return 1\n",
		"direct.star":  "x = 1\nload(\"@shell\", \"sh\")\n",
		"lib/sub.star": "load(\"../cycle.star\", \"c\")\nload(\"@gcp\", \"gcs_download\")\n",
		"cycle.star":   "load(\"lib/sub.star\", \"s\")\nc = 1\n",
		"via.star":     "load(\"lib/sub.star\", \"s\")\n",
		"nolib.star":   "load(\"missing.star\", \"m\")\n",
		"broken.star":  "load(\"@shell\", \"sh\"\n",
		"local.star":   "load(\"plain.star\", \"a\")\n",
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		file, plugin, at string
	}{
		{"plain.star", "", ""},
		{"direct.star", "shell", "direct.star:2:1"},
		{"via.star", "gcp", "sub.star:2:1"},
		{"cycle.star", "gcp", "sub.star:2:1"},
		{"nolib.star", "", ""},
		{"broken.star", "", ""},
		{"local.star", "", ""},
		{"absent.star", "", ""},
	}
	for _, c := range cases {
		pl, ok := FindPluginLoad(filepath.Join(dir, c.file))
		if ok != (c.plugin != "") || pl.Plugin != c.plugin {
			t.Errorf("%s: FindPluginLoad = %+v, %v; want plugin %q", c.file, pl, ok, c.plugin)
			continue
		}
		if ok {
			got := fmt.Sprintf("%s:%d:%d", filepath.Base(pl.Pos.File), pl.Pos.Line, pl.Pos.Col)
			if got != c.at {
				t.Errorf("%s: found at %s, want %s", c.file, got, c.at)
			}
		}
	}
}
