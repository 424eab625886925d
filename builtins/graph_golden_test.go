package builtins

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/wfsh/wfsh/runtime"
)

// builtGraphsFlow calls tasks in the ways the example flows do not:
// repeats whose names clash with tasks so named, keyword arguments,
// containers holding results, .map with unmapped() and a literal list,
// upstream_tasks, options, a cached task, guards, and a build error.
const builtGraphsFlow = `
@task
def a(x, y=1, *rest, k=None, **kw):
    return x

@task(retries=2, retry_delay=3, timeout=60, tags=["db"], cache_for=30)
def b(x):
    return x

@task
def c(x, y):
    return x

@task(name="a-2")
def a2(x):
    return x

@task(trigger=all_finished)
def last():
    pass

@flow(name="Calls", limits={"db": 2}, timeout=600)
def calls(p=1, q="s"):
    r = a(p)
    r2 = a(r, 2, 3, k=r, z=[r, {"k": (r, p)}])
    n = a2(r2)
    r3 = a(n, y=q)
    m = b.map([r, r2, 3])
    mm = c.map(m, unmapped([r3, 1]))
    s = struct(x=r, y=[1, 2])
    d = c(s, {"a": r2, r3: 1} if False else {"a": r2})
    case(r, 1, lambda: b(a(d)))
    last(upstream_tasks=[mm, d])
    return [r3, mm]

@task
def k(x, *, y, z=3):
    return x

@flow
def arity_ok():
    a(1, 2, 3, 4, nope=1)
    k(1, y=2)
    k(y=2, x=1, z=4)

@flow
def missing():
    c(1)

@flow
def missing_kwonly():
    k(1)

@flow
def too_many():
    c(1, 2, 3)

@flow
def too_many_kwonly():
    k(1, 2)

@flow
def unexpected():
    c(1, y=2, w=3)
`

// TestBuiltGraphs builds every flow of the example and benchmark flows
// that need no plugin, and builtGraphsFlow, and writes down each graph
// whole: every field of every node, its body's argument templates with
// their placeholders, or the build's errors (a long dump only in part,
// then its SHA-256). The builder may change how it builds (fewer
// allocations, fewer checks of what it guarantees), never what it
// builds: the graphs must stay those of testdata/TestBuiltGraphs/*.golden
// (go test ./builtins/ -run TestBuiltGraphs -update writes them anew).
func TestBuiltGraphs(t *testing.T) {
	var files []string
	for _, pat := range []string{"../flows/*.star", "../flows/bench/*.star"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("found %d flow files, want at least 20", len(files))
	}
	calls := filepath.Join(t.TempDir(), "calls.star")
	if err := os.WriteFile(calls, []byte(builtGraphsFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	files = append(files, calls)
	built := 0
	for _, path := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(path), "../"), ".star")
		name = strings.ReplaceAll(name, "/", "_")
		if path == calls {
			name = "calls"
		}
		t.Run(name, func(t *testing.T) {
			m, err := Load(path, LoadOptions{Print: func(string) {}})
			if err != nil {
				if strings.Contains(err.Error(), "plugin") {
					t.Skipf("needs a plugin: %v", err)
				}
				t.Fatalf("load: %v", err)
			}
			var out strings.Builder
			for _, f := range m.Flows {
				fmt.Fprintf(&out, "flow %s\n", f.name)
				bd, err := f.Build(BuildOptions{Check: true})
				if err != nil {
					fmt.Fprintf(&out, "error: %v\n", err)
					continue
				}
				built++
				// The build checks all but the names, which it makes distinct.
				if err := bd.Graph.Validate(); err != nil {
					t.Errorf("flow %s: %v", f.name, err)
				}
				dumpGraph(&out, bd.Graph, "")
			}
			dump := strings.ReplaceAll(out.String(), filepath.Dir(calls), "TMP")
			if lines := strings.SplitAfter(dump, "\n"); len(lines) > 400 {
				dump = fmt.Sprintf("%s...\n%s%d lines, sha256 %x\n", strings.Join(lines[:300], ""),
					strings.Join(lines[len(lines)-50:], ""), len(lines), sha256.Sum256([]byte(dump)))
			}
			golden.RequireEqual(t, dump)
		})
	}
	if built < 15 {
		t.Errorf("built %d flows, want at least 15", built)
	}
}

func dumpGraph(w *strings.Builder, g *runtime.Graph, indent string) {
	fmt.Fprintf(w, "%sgraph %s: %d nodes, reference %v, returns %d, params %v, timeout %v, %d hooks, values %T\n",
		indent, g.Flow, len(g.Nodes), g.Reference, g.Returns, g.Params, g.Timeout, len(g.Hooks), g.Values)
	for _, k := range sortedKeys(g.Limits) {
		fmt.Fprintf(w, "%slimit %s=%d\n", indent, k, g.Limits[k])
	}
	for i, n := range g.Nodes {
		fmt.Fprintf(w, "%s#%d id=%d %q task=%q kind=%d pos=%v def=%v\n", indent, i, n.ID, n.Name, n.Task, n.Kind, n.Pos, n.DefPos)
		fmt.Fprintf(w, "%s  inputs=%v upstream=%v trigger=%s/%v/%v skip=%v retries=%d delay=%v timeout=%v tags=%q mapped=%v hooks=%d\n",
			indent, n.Inputs, n.Upstream, n.Trigger.Name, n.Trigger.AcceptsSkip, n.Trigger.Fn != nil, n.SkipOnUpstreamSkip,
			n.Retries, n.RetryDelay, n.Timeout, n.Tags, n.Mapped, len(n.Hooks))
		for _, gd := range n.Guards {
			fmt.Fprintf(w, "%s  guard %d %q\n", indent, gd.Cond, gd.Label)
		}
		switch body := n.Body.(type) {
		case *starBody:
			fmt.Fprintf(w, "%s  body fn=%s run=%v dynamic=%v\n", indent, fnName(body.fn), body.run != nil, body.dynamic)
			for _, a := range body.args {
				fmt.Fprintf(w, "%s  arg %s\n", indent, showTemplate(a))
			}
			for _, kv := range body.kwargs {
				fmt.Fprintf(w, "%s  kwarg %s=%s\n", indent, kv[0], showTemplate(kv[1]))
			}
			if body.constant != nil {
				fmt.Fprintf(w, "%s  constant %s\n", indent, showTemplate(body.constant))
			}
			if c := body.cache; c != nil {
				fmt.Fprintf(w, "%s  cache ttl=%v key=%v digest=%v\n", indent, c.ttl, c.key != nil, c.digest != nil)
			}
		default:
			fmt.Fprintf(w, "%s  body %T\n", indent, body)
		}
		if n.Sub != nil {
			dumpGraph(w, n.Sub, indent+"    ")
		}
	}
}

func fnName(fn starlark.Callable) string {
	if fn == nil {
		return "-"
	}
	return fmt.Sprintf("%s(%T)", fn.Name(), fn)
}

// showTemplate writes an argument template, each TaskRef in it as its
// node and placeholder slot (TaskRef.String reports a misuse).
func showTemplate(v starlark.Value) string {
	switch v := v.(type) {
	case *TaskRef:
		return fmt.Sprintf("<ref %d %q param=%v mapped=%v slot=%d>", v.id, v.name, v.param, v.mapped, v.slot)
	case *starlark.List:
		var s []string
		for i := range v.Len() {
			s = append(s, showTemplate(v.Index(i)))
		}
		return "[" + strings.Join(s, ", ") + "]"
	case starlark.Tuple:
		var s []string
		for _, x := range v {
			s = append(s, showTemplate(x))
		}
		return "(" + strings.Join(s, ", ") + ")"
	case *starlark.Dict:
		var s []string
		for k, x := range v.Entries() {
			s = append(s, showTemplate(k)+": "+showTemplate(x))
		}
		return "{" + strings.Join(s, ", ") + "}"
	case *starlarkstruct.Struct:
		var s []string
		names := v.AttrNames()
		sort.Strings(names)
		for _, name := range names {
			x, _ := v.Attr(name)
			s = append(s, name+"="+showTemplate(x))
		}
		return "struct(" + strings.Join(s, ", ") + ")"
	case *unmappedValue:
		return "unmapped(" + showTemplate(v.v) + ")"
	}
	return fmt.Sprintf("%s %s", v.Type(), v.String())
}
