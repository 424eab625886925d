package depcheck

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const mod = "github.com/wfsh/wfsh/"

// rule is what one package may depend on.
type rule struct {
	// imports are the wfsh packages it may import directly (relative to
	// the module); stdOnly forbids anything outside the standard library,
	// however far down.
	imports []string
	stdOnly bool
	// never are import path prefixes it must not link, however far down.
	never []string
}

// heavy are the client libraries of the integrations that run as plugin
// executables of their own: linked into wfsh, they would cost every run
// tens of milliseconds of start-up (docs/performance.md).
var heavy = []string{"k8s.io/client-go", "k8s.io/api", "k8s.io/apimachinery", "cloud.google.com/go", "google.golang.org/api"}

// pluginProtocol is what the plugin protocol links: go-plugin, gRPC and
// protobuf, whose package initialisation is most of a start of an
// executable that links them (docs/performance.md). The runner does not
// link them; runner/pluginhost does.
var pluginProtocol = []string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "google.golang.org/protobuf", "github.com/golang/protobuf"}

// lipgloss's package initialisation probes the terminal on standard
// output (terminfo, `tmux info` as a child process inside tmux): linked
// into wfsh, it made every `wfsh run` in a tmux pane 2x slower
// (docs/performance.md, "The live view").
const lipgloss = "charm.land/lipgloss"

// rules is the house plan as a table (docs/architecture.md draws it).
// Arrows point one way: cmd -> runner -> {builtins, store, plugins/host}
// -> runtime; plugins never import runtime or builtins.
var rules = map[string]rule{
	"runtime":                            {stdOnly: true},
	"runtime/runtimetest":                {imports: []string{"runtime"}},
	"schedule":                           {never: []string{mod, "go.starlark.net"}},
	"bundle":                             {stdOnly: true},
	"auth":                               {stdOnly: true},
	"seal":                               {stdOnly: true},
	"builtins":                           {imports: []string{"runtime", "schedule"}, never: append(heavy, lipgloss, "github.com/spf13/", "google.golang.org/protobuf", mod+"plugins/")},
	"starfmt":                            {imports: []string{"builtins"}, never: append(heavy, lipgloss, "github.com/spf13/", "charm.land/", mod+"plugins/")},
	"starlint":                           {imports: []string{"starfmt"}, never: append(heavy, lipgloss, "github.com/spf13/", "charm.land/", mod+"plugins/")},
	"store":                              {imports: []string{"runtime"}, never: []string{"go.starlark.net", "github.com/spf13/"}},
	"runner":                             {imports: []string{"builtins", "dot", "schedule", "store", "plugins/procs", "runtime"}, never: append(append(heavy, pluginProtocol...), lipgloss, "github.com/spf13/", "charm.land/")},
	"runner/pluginhost":                  {imports: []string{"builtins", "plugins/host", "plugins/sdk/pluginpb", "runtime"}, never: append(heavy, lipgloss, "github.com/spf13/", "charm.land/")},
	"server":                             {imports: []string{"auth", "bundle", "output", "runtime", "schedule", "store"}, never: append(heavy, lipgloss, "go.starlark.net", "github.com/spf13/", "charm.land/")},
	"web":                                {imports: []string{"auth", "dot", "runtime", "schedule", "server", "store"}, never: append(heavy, lipgloss, "go.starlark.net", "github.com/spf13/", "charm.land/")},
	"output":                             {imports: []string{"runtime"}, never: []string{"go.starlark.net"}},
	"dot":                                {imports: []string{"runtime"}, never: []string{"go.starlark.net"}},
	"tui":                                {imports: []string{"runtime"}, never: []string{"go.starlark.net", lipgloss}},
	"repl":                               {imports: []string{"builtins", "output", "runtime", "tui"}, never: []string{lipgloss}},
	"plugins/sdk":                        {imports: []string{"plugins/sdk/pluginpb"}, never: []string{mod + "runtime", mod + "builtins"}},
	"plugins/sdk/pluginpb":               {},
	"plugins/host":                       {imports: []string{"plugins/sdk", "plugins/sdk/pluginpb", "plugins/internal/pdeath", "plugins/procs"}, never: []string{mod + "runtime", mod + "builtins"}},
	"plugins/host/hosttest":              {imports: []string{"plugins/host", "internal/benchstat"}},
	"plugins/shell":                      {imports: []string{"plugins/sdk", "plugins/internal/pdeath"}, never: []string{mod + "runtime", mod + "builtins"}},
	"plugins/gcp":                        {imports: []string{"plugins/sdk"}, never: []string{mod + "runtime", mod + "builtins"}},
	"plugins/kubernetes":                 {imports: []string{"plugins/sdk"}, never: []string{mod + "runtime", mod + "builtins"}},
	"plugins/gcp/internal/embulkstandin": {},
	"plugins/notify":                     {imports: []string{"plugins/sdk"}, never: append(heavy, mod+"runtime", mod+"builtins")},
	"plugins/notify/notifytest":          {},
	"plugins/internal/pdeath":            {stdOnly: true},
	"plugins/procs":                      {stdOnly: true},
	"plugins/internal/testplugin":        {imports: []string{"plugins/sdk"}},
	"cmd/wfsh": {imports: []string{"auth", "builtins", "dot", "output", "plugins/host", "plugins/sdk", "plugins/sdk/pluginpb",
		"bundle", "plugins/shell", "repl", "runner", "runner/pluginhost", "runtime", "schedule", "seal", "server", "starfmt", "starlint", "store", "tui", "web", "worker"}, never: append(heavy, lipgloss)},
	"cmd/wfsh-plugin-gcp":        {imports: []string{"plugins/gcp", "plugins/sdk"}},
	"cmd/wfsh-plugin-kubernetes": {imports: []string{"plugins/kubernetes"}},
	"cmd/wfsh-plugin-notify":     {imports: []string{"plugins/notify", "plugins/sdk"}},
	"worker":                     {imports: []string{"server"}, never: append(heavy, lipgloss, "go.starlark.net", "github.com/spf13/", "charm.land/", mod+"builtins", mod+"runner")},
	"k8spool":                    {imports: []string{"runtime", "server", "worker"}, never: []string{lipgloss, "go.starlark.net", mod + "builtins", mod + "runner"}},
	"deploy/helm":                {}, // the chart's tests (build tag k8s_integration): no code
	"cmd/wfsh-worker-kubernetes": {imports: []string{"k8spool", "server"}, never: []string{lipgloss, "go.starlark.net"}},
	"examples/plugins/hello":     {imports: []string{"plugins/sdk"}},
	"internal/benchstat":         {},
	"internal/proctest":          {},
	"internal/pgtest":            {},
	"internal/depcheck":          {},
	"scripts/benchrun":           {},
	"scripts/logbench":           {},
	"scripts/servebench":         {},
	"scripts/image":              {},
	"internal/leaks":             {},
}

type pkg struct {
	path     string
	imports  []string
	deps     []string
	standard map[string]bool
}

// list runs go list over the module: each package, its direct imports
// and all it depends on.
func list(t *testing.T) []pkg {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := moduleRoot(t)
	cmd := exec.CommandContext(ctx, gocmd, "list", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .Deps \" \"}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	std := standard(t, ctx, gocmd, root)
	var pkgs []pkg
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		pkgs = append(pkgs, pkg{path: f[0], imports: strings.Fields(f[1]), deps: strings.Fields(f[2]), standard: std})
	}
	return pkgs
}

// standard is the set of the standard library's packages.
func standard(t *testing.T, ctx context.Context, gocmd, root string) map[string]bool {
	cmd := exec.CommandContext(ctx, gocmd, "list", "std")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	m := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		m[p] = true
	}
	return m
}

func moduleRoot(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", dir)
	}
	return dir
}

// TestDependencyRule checks every package of the module against its rule;
// a package without one fails, so that each new package is placed.
func TestDependencyRule(t *testing.T) {
	pkgs := list(t)
	seen := map[string]bool{}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.path, mod)
		seen[rel] = true
		r, ok := rules[rel]
		if !ok {
			t.Errorf("%s has no rule: add it to the table in internal/depcheck and to docs/architecture.md", rel)
			continue
		}
		for _, imp := range p.imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			if !slices.Contains(r.imports, strings.TrimPrefix(imp, mod)) {
				t.Errorf("%s imports %s, which its rule does not allow (%v)", rel, strings.TrimPrefix(imp, mod), r.imports)
			}
		}
		for _, d := range p.deps {
			if r.stdOnly && !p.standard[d] && d != p.path {
				t.Errorf("%s must use only the standard library; it depends on %s", rel, d)
			}
			for _, n := range r.never {
				if d == n || strings.HasPrefix(d, n) {
					t.Errorf("%s depends on %s, which it must never link", rel, d)
				}
			}
		}
	}
	// The list is the real one: what the house is known to hold is there.
	for _, want := range []string{"runtime", "builtins", "runner", "cmd/wfsh", "store", "tui"} {
		if !seen[want] {
			t.Errorf("go list lacks %s; got %d packages", want, len(pkgs))
		}
	}
	for rel := range rules {
		if !seen[rel] {
			t.Errorf("the table has a rule for %s, which is not a package of the module", rel)
		}
	}
}

// TestPackageMap checks that docs/architecture.md's package map names
// every package of the table but the test-only ones.
func TestPackageMap(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(moduleRoot(t), "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	block, _, _ := strings.Cut(string(doc), "Dependencies point one way")
	for rel := range rules {
		if strings.Contains(rel, "internal") || strings.HasPrefix(rel, "examples/") || strings.HasPrefix(rel, "scripts/") ||
			strings.HasSuffix(rel, "test") || strings.HasPrefix(rel, "cmd/wfsh-plugin-") || rel == "plugins/sdk/pluginpb" {
			continue
		}
		if !strings.Contains(block, rel+"/") {
			t.Errorf("docs/architecture.md's package map lacks %s/", rel)
		}
	}
}

// light are what the light wfsh executable (build tag wfshlight, the
// `wfsh` that make build installs) must never link: the plugin protocol,
// the server's API framework and the Kubernetes client; and the
// PostgreSQL driver, the live views' terminal libraries and buildifier,
// which only some commands need. Every package
// linked runs its init at every start, whichever command runs; commands
// that need these are served by wfsh-full (docs/architecture.md, "Two
// executables").
var light = append(append([]string{"github.com/danielgtaylor/huma", mod + "server", mod + "web", mod + "k8spool",
	mod + "runner/pluginhost", mod + "plugins/host", "github.com/jackc/pgx", "charm.land/bubbletea", mod + "tui",
	"github.com/bazelbuild/buildtools"}, pluginProtocol...), heavy...)

// TestLightExecutable lists the light executable's dependencies with its
// build tag and checks that none of them is one it must not link, and
// that it is the real list (it holds the run path).
func TestLightExecutable(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gocmd, "list", "-deps", "-tags", "wfshlight", "./cmd/wfsh")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, n := range light {
			if d == n || strings.HasPrefix(d, n+"/") {
				t.Errorf("the light wfsh depends on %s, which it must never link", d)
			}
		}
	}
	for _, want := range []string{mod + "runner", mod + "store", mod + "builtins", "go.starlark.net/starlark", "github.com/spf13/cobra"} {
		if !slices.Contains(deps, want) {
			t.Errorf("the light wfsh does not link %s: go list gave %d packages", want, len(deps))
		}
	}
}
