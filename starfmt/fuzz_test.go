package starfmt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/dot"
)

// FuzzFormatKeepsDAG generates flow files from the fuzzer's bytes (tasks
// with stacked and multi-line decorators, comments and blank lines in odd
// places, loose spacing, keyword arguments, .map, upstream_tasks, for and
// while loops, top-level if, bytes literals, tab indentation) and checks that formatting never changes
// what a file builds: every flow's DAG, built as `wfsh check` builds it
// (running no task), is the same before and after, and formatting the
// result again changes nothing.
//
//	go test -run '^$' -fuzz=FuzzFormatKeepsDAG ./starfmt/
func FuzzFormatKeepsDAG(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{3, 1, 2, 0, 4, 5, 6, 7},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3},
		bytes.Repeat([]byte{0xa5, 0x3c, 0x11}, 12),
		[]byte("a flow file made of words, not code, read as choices"),
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		out := sameDAG(t, dir, "gen.star", genFlowFile(data))
		stable(t, "gen.star", out)
	})
}

// sameDAG formats src and checks that every flow of it builds the same
// DAG before and after; it returns the formatted source.
func sameDAG(t *testing.T, dir, name string, src []byte) []byte {
	t.Helper()
	before, err := buildAll(dir, "before.star", src)
	if err != nil {
		t.Fatalf("%s does not build: %v\n%s", name, err, src)
	}
	out, err := Format(name, src)
	if err != nil {
		t.Fatalf("%s: format: %v\n%s", name, err, src)
	}
	after, err := buildAll(dir, "after.star", out)
	if err != nil {
		t.Fatalf("%s formatted does not build: %v\nbefore:\n%s\nafter:\n%s", name, err, src, out)
	}
	if before != after {
		t.Fatalf("%s: formatting changed the DAG:\n%s\nbefore:\n%s\nafter:\n%s", name, diffLines(before, after), src, out)
	}
	return out
}

// buildAll loads src as a flow file and builds every flow of it as
// `wfsh check` does, returning the DAGs as text: the DOT drawing (nodes,
// edges, triggers, mapping) and each node's settings.
func buildAll(dir, name string, src []byte) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		return "", err
	}
	m, err := builtins.Load(path, builtins.LoadOptions{Print: func(string) {}})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, fl := range m.Flows {
		bd, err := fl.Build(builtins.BuildOptions{Check: true})
		if err != nil {
			return "", err
		}
		if err := dot.Write(&b, bd.Graph, dot.Options{}); err != nil {
			return "", err
		}
		for _, n := range bd.Graph.Nodes {
			fmt.Fprintf(&b, "%s: task=%s kind=%v retries=%d delay=%v timeout=%v tags=%q trigger=%s skip=%v mapped=%v\n",
				n.Name, n.Task, n.Kind, n.Retries, n.RetryDelay, n.Timeout, n.Tags, n.Trigger.Name, n.SkipOnUpstreamSkip, n.Mapped)
		}
		fmt.Fprintf(&b, "reference=%v\n", bd.Graph.Reference)
	}
	return b.String(), nil
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines before, %d after", len(al), len(bl))
}

// A gen turns the fuzzer's bytes into choices.
type gen struct {
	data []byte
	b    strings.Builder
}

func (g *gen) pick(n int) int {
	if len(g.data) == 0 || n <= 1 {
		return 0
	}
	c := int(g.data[0]) % n
	g.data = g.data[1:]
	return c
}

func (g *gen) one(choices ...string) string { return choices[g.pick(len(choices))] }

func (g *gen) w(format string, args ...any) { fmt.Fprintf(&g.b, format, args...) }

// sp is an optional space where the formatter decides.
func (g *gen) sp() string { return g.one("", " ", "  ") }

// gap is what may sit between two statements: nothing, blank lines, a
// comment.
func (g *gen) gap(indent string) {
	g.w("%s", g.one("", "\n", "\n\n", indent+"# note\n", "\n"+indent+"# a comment block\n\n"))
}

func genFlowFile(data []byte) []byte {
	g := &gen{data: data}
	g.w("%s", g.one("", "# A generated flow.\n", "\"\"\"Module doc.\"\"\"\n"))
	g.w("%s", g.one("", "B = b'\\xff'\n", "B = [rb\"\\d\",b'x']\n"))
	g.w("N = %d\n\ndef identity(fn):\n    return fn\n", g.pick(4))
	if g.pick(2) == 1 {
		g.w("k = 0\nwhile k<N:\n    k += 1\n")
	}
	ntasks := 1 + g.pick(4)
	for i := range ntasks {
		g.gap("")
		g.decorators("", i)
		g.w("def t%d(x%s=%s1, y =None):\n", i, g.sp(), g.sp())
		g.w("    %s\n", g.one("return x", "return [x, y]", "return {\"x\": x}", "\"\"\"Doc.\"\"\"\n    return x"))
	}
	g.gap("")
	g.w("@flow(name%s=%s\"F\"%s)\n", g.sp(), g.sp(), g.one("", ", late_after = \"1m\""))
	g.w("def f(n%s=%s2):\n", g.sp(), g.sp())
	g.w("    refs = [t0(%s1%s)]\n", g.sp(), g.sp())
	for range 1 + g.pick(6) {
		g.gap("    ")
		g.call(ntasks)
	}
	g.w("    return refs[%d]\n", -1)
	if g.pick(2) == 1 {
		g.w("if N > 1:\n    @task\n    def late():\n        return N\n")
	}
	src := g.b.String()
	if g.pick(3) == 0 { // indent with tabs, as some editors do
		lines := strings.Split(src, "\n")
		for i, l := range lines {
			n := 0
			for strings.HasPrefix(l[4*n:], "    ") {
				n++
			}
			lines[i] = strings.Repeat("\t", n) + l[4*n:]
		}
		src = strings.Join(lines, "\n")
	}
	return []byte(src)
}

// decorators writes a task's decorators: @task in one of its forms,
// sometimes with comments, blank lines or another decorator around it.
func (g *gen) decorators(indent string, i int) {
	switch g.pick(4) {
	case 0:
		g.w("%s@task\n", indent)
	case 1:
		g.w("%s@task(retries%s=%s%d, retry_delay=\"%ds\")%s\n", indent, g.sp(), g.sp(), g.pick(3), g.pick(5), g.one("", "  # flaky"))
	case 2:
		g.w("%s@task(\n%s    name = \"task-%d\",\n%s    tags=[\"db\"%s],\n%s)\n", indent, indent, i, indent, g.one("", ", \"x\""), indent)
	default:
		g.w("%s@ task(timeout=\"1m\")\n%s", indent, g.one("", "\n", indent+"# between\n"))
	}
	if g.pick(3) == 0 {
		g.w("%s@identity%s\n", indent, g.one("", "\n"))
	}
}

// call writes one statement of the flow body.
func (g *gen) call(ntasks int) {
	t := g.pick(ntasks)
	arg := g.one("refs[-1]", "n", "refs[0]", "3", "[refs[-1], n]")
	switch g.pick(5) {
	case 0:
		g.w("    refs.append(t%d(%s%s))\n", t, arg, g.one("", ", y=n", ",y =refs[0]"))
	case 1:
		g.w("    refs.append(t%d.map([1,2,%s3]))\n", t, g.sp())
	case 2:
		g.w("    refs.append(t%d(%s, upstream_tasks=[refs[0]]))\n", t, arg)
	case 3:
		g.w("    for i in range(%d):\n        refs.append(t%d(%s))\n", 1+g.pick(3), t, arg)
	default:
		g.w("    j = 0\n    while j < %d:\n        j += 1\n        refs.append(t%d(x=%s))\n", 1+g.pick(2), t, arg)
	}
}

// FuzzFormatText mutates flow files as text: whatever wfsh parses must
// format without error (or be refused by buildifier's parser, saying so,
// or for a NUL byte, where wfsh's parser stops reading),
// parse as wfsh again and format to itself.
//
//	go test -run '^$' -fuzz=FuzzFormatText ./starfmt/
func FuzzFormatText(f *testing.F) {
	ins, err := filepath.Glob("testdata/*.in.star")
	if err != nil || len(ins) == 0 {
		f.Fatalf("no seeds in testdata/*.in.star (%v)", err)
	}
	for _, in := range ins {
		src, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if _, err := builtins.ParseFile("fuzz.star", src); err != nil {
			return
		}
		out, err := Format("fuzz.star", src)
		if err != nil {
			if !strings.Contains(err.Error(), "buildifier's parser") && !strings.Contains(err.Error(), "NUL byte") {
				t.Fatalf("wfsh parses it, the formatter fails: %v\n%s", err, src)
			}
			return
		}
		stable(t, "fuzz.star", out)
	})
}
