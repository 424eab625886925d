package dot_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/dot"
	"github.com/wfsh/wfsh/plugins/gcp"
	"github.com/wfsh/wfsh/plugins/kubernetes"
	"github.com/wfsh/wfsh/plugins/notify"
	"github.com/wfsh/wfsh/plugins/sdk"
	"github.com/wfsh/wfsh/plugins/shell"
	"github.com/wfsh/wfsh/runtime"
	"go.starlark.net/starlark"
)

// exampleFlows are the flows/*.star examples (not flows/bench).
func exampleFlows(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../flows/*.star")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d example flows in ../flows, want at least 10", len(files))
	}
	return files
}

// describeOnly serves load("@name") for a build: it describes wfsh's own
// plugins (@shell, @gcp, @kubernetes and @notify, which the example flows load)
// without starting a process, and refuses calls (a build runs no task).
type describeOnly struct{}

func (describeOnly) Describe(_ context.Context, name string) (*builtins.PluginDescription, error) {
	plugin := map[string]func() *sdk.Plugin{"shell": shell.Plugin, "gcp": gcp.Plugin, "kubernetes": kubernetes.Plugin, "notify": notify.Plugin}[name]
	if plugin == nil {
		return nil, fmt.Errorf("no plugin named %q", name)
	}
	p := plugin()
	d := &builtins.PluginDescription{Version: p.Version}
	for _, f := range p.Functions {
		pf := builtins.PluginFunction{Name: f.Name}
		for _, prm := range f.Params {
			pf.Params = append(pf.Params, builtins.PluginParam{Name: prm.Name, Required: prm.Required})
		}
		d.Functions = append(d.Functions, pf)
	}
	for _, tc := range p.Tasks {
		d.TaskConstructors = append(d.TaskConstructors, builtins.PluginTaskConstructor{Name: tc.Name, Function: tc.Function})
	}
	return d, nil
}

func (describeOnly) Call(context.Context, string, *builtins.PluginCall) (starlark.Value, error) {
	return nil, errors.New("describeOnly: plugins are not called while drawing a graph")
}

func build(t *testing.T, path string, check bool) *builtins.Build {
	t.Helper()
	m, err := builtins.Load(path, builtins.LoadOptions{Plugins: describeOnly{}, Print: func(string) {}})
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	f, err := m.FindFlow("")
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := f.Build(builtins.BuildOptions{Check: check})
	if err != nil {
		t.Fatalf("build %s: %v", path, err)
	}
	return b
}

func writeDOT(t *testing.T, g *runtime.Graph, opts dot.Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dot.Write(&buf, g, opts); err != nil {
		t.Fatalf("WriteDOT: %v", err)
	}
	return buf.String()
}

// TestGolden draws every example flow's DAG, as `wfsh graph` does.
func TestGolden(t *testing.T) {
	for _, path := range exampleFlows(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".star")
		t.Run(name, func(t *testing.T) {
			golden.RequireEqual(t, writeDOT(t, build(t, path, true).Graph, dot.Options{}))
		})
	}
}

// TestGoldenRun colours the DAG of finished runs whose final states do not
// depend on chance, as `wfsh graph --run` and `.visualize()` will.
func TestGoldenRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state runtime.State
		want  map[string]runtime.State
	}{
		{"with_cleanup", runtime.Failed, map[string]runtime.State{
			"create_cluster": runtime.Success, "run_job": runtime.Failed, "delete_cluster": runtime.Success}},
		{"switch", runtime.Success, map[string]runtime.State{
			"choice": runtime.Success, "pick": runtime.Success,
			"say": runtime.Skipped, "say-2": runtime.Success, "say-3": runtime.Skipped}},
		{"dynamic_flow", runtime.Success, map[string]runtime.State{
			"numbers": runtime.Success, "square": runtime.Mapped, "total": runtime.Success}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, filepath.Join("..", "flows", tc.name+".star"), false)
			res := runtime.Run(context.Background(), b.Graph, runtime.Options{})
			if res.State != tc.state {
				t.Fatalf("run ended %s, want %s", res.State, tc.state)
			}
			states := map[string]runtime.State{}
			for _, tr := range res.Tasks {
				states[tr.Name] = tr.State
			}
			for name, want := range tc.want {
				if states[name] != want {
					t.Errorf("%s ended %s, want %s", name, states[name], want)
				}
			}
			golden.RequireEqual(t, writeDOT(t, b.Graph, dot.Options{States: states}))
		})
	}
}

// nodeLine returns the line that declares node name.
func nodeLine(t *testing.T, out, name string) string {
	t.Helper()
	prefix := "\t" + dot.Quote(name) + " ["
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no node %s in\n%s", name, out)
	return ""
}

func hasLine(t *testing.T, out, line string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimPrefix(l, "\t") == line {
			return
		}
	}
	t.Errorf("no line %q in\n%s", line, out)
}

func task(name string) *runtime.Node {
	return &runtime.Node{Name: name, Task: name, Trigger: runtime.AllSuccessful}
}

// kinds is a graph with every kind of node and edge.
func kinds() *runtime.Graph {
	g := &runtime.Graph{Flow: "Kinds"}
	p := g.Add(&runtime.Node{Name: "n", Task: "n", Kind: runtime.ParamNode, Trigger: runtime.AllSuccessful})
	src := g.Add(task("src"))
	c := g.Add(&runtime.Node{Name: "sq.arg", Task: "constant", Kind: runtime.ConstNode, Trigger: runtime.AllSuccessful,
		Inputs: []runtime.Input{{From: p}}})
	sq := task("sq")
	sq.Mapped = true
	sq.Inputs = []runtime.Input{{From: c, Map: true}, {From: src}}
	sq.Upstream = []runtime.NodeID{p, p} // listed twice: drawn once
	s := g.Add(sq)
	after := task("after")
	after.Trigger = runtime.AllFinished
	after.Inputs = []runtime.Input{{From: s}}
	after.Guards = []runtime.Guard{{Cond: src, Label: `== "a\b"`}, {Cond: src, Label: `== "a\b"`}, {Cond: src, Label: "is True"}}
	a := g.Add(after)
	g.Reference = []runtime.NodeID{a}
	return g
}

// TestKinds checks how each kind of node and edge is drawn.
func TestKinds(t *testing.T) {
	out := writeDOT(t, kinds(), dot.Options{})
	for _, l := range []string{
		`digraph "Kinds" {`,
		`"n" [label="n", shape=ellipse];`,
		`"src" [label="src"];`,
		`"sq.arg" [label="sq.arg", shape=plaintext, fontsize=9];`,
		`"sq" [label="sq\n[mapped]", peripheries=2];`,
		`"after" [label="after\ntrigger: all_finished", style="bold"];`,
		`"n" -> "sq.arg";`,
		`"sq.arg" -> "sq" [label="map", style=bold];`,
		`"src" -> "sq";`,
		`"n" -> "sq" [style=dashed];`,
		`"sq" -> "after";`,
		`"src" -> "after" [style=dotted, label="== \"a\\b\""];`,
		`"src" -> "after" [style=dotted, label="is True"];`,
	} {
		hasLine(t, out, l)
	}
	if n := strings.Count(out, `"n" -> "sq" [style=dashed]`); n != 1 {
		t.Errorf("ordering edge n -> sq drawn %d times, want once", n)
	}
	if n := strings.Count(out, `"src" -> "after" [style=dotted, label="== \"a\\b\""]`); n != 1 {
		t.Errorf("guard edge src -> after drawn %d times, want once", n)
	}
	if strings.Contains(out, "filled") {
		t.Errorf("a graph without states has filled nodes:\n%s", out)
	}
	// Without Reference, the terminal tasks are the reference tasks.
	g := kinds()
	g.Reference = nil
	g.Add(task("extra"))
	out = writeDOT(t, g, dot.Options{})
	hasLine(t, out, `"extra" [label="extra", style="bold"];`)
	hasLine(t, out, `"after" [label="after\ntrigger: all_finished", style="bold"];`)
	hasLine(t, out, `"src" [label="src"];`)
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{"", `""`},
		{`say "hi"`, `"say \"hi\""`},
		{`C:\tmp\`, `"C:\\tmp\\"`},
		{`\N`, `"\\N"`},
		{`\"`, `"\\\""`},
		{"two\nlines", `"two\nlines"`},
		{"cr\r", `"cr\r"`},
		{"tab\there", "\"tab\there\""},
		{"nul\x00bell\x07del\x7f", "\"nul\uFFFDbell\uFFFDdel\uFFFD\""},
		{"bad\xffutf8", "\"bad\uFFFDutf8\""},
		{"日本語 ✓ {}<>[];-> --", `"日本語 ✓ {}<>[];-> --"`},
	} {
		if got := dot.Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// oddNames is a graph whose names and labels need escaping.
func oddNames() *runtime.Graph {
	g := &runtime.Graph{Flow: `flow "x"\y`}
	a := g.Add(task(`say "hi"`))
	b := task(`C:\tmp\`)
	b.Guards = []runtime.Guard{{Cond: a, Label: `== "q\"uote"`}}
	bid := g.Add(b)
	c := task("two\nlines")
	c.Inputs = []runtime.Input{{From: bid}}
	g.Add(c)
	return g
}

func TestEscapedNames(t *testing.T) {
	out := writeDOT(t, oddNames(), dot.Options{})
	for _, l := range []string{
		`digraph "flow \"x\"\\y" {`,
		`"say \"hi\"" [label="say \"hi\""];`,
		`"C:\\tmp\\" [label="C:\\tmp\\"];`,
		`"two\nlines" [label="two\nlines", style="bold"];`,
		`"say \"hi\"" -> "C:\\tmp\\" [style=dotted, label="== \"q\\\"uote\""];`,
		`"C:\\tmp\\" -> "two\nlines";`,
	} {
		hasLine(t, out, l)
	}
	// No raw newline inside a quoted string: every line is a whole statement.
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l != "" && l != "}" && !strings.HasPrefix(l, "digraph ") && !strings.HasSuffix(l, ";") {
			t.Errorf("line %q is not a whole statement in\n%s", l, out)
		}
	}
}

// TestStateColours checks the fill of each state, that the state is named
// in the label, and that nodes without a state stay uncoloured.
func TestStateColours(t *testing.T) {
	want := map[runtime.State]string{
		runtime.Success:       "#5cb85c", // green
		runtime.Failed:        "#e05252", // red
		runtime.TriggerFailed: "#f4a3a3", // light red
		runtime.TimedOut:      "#b22222", // dark red
		runtime.Skipped:       "#d3d3d3", // grey
		runtime.Mapped:        "#c6efc6", // light green
		runtime.Cancelled:     "#ffa500", // orange
		runtime.Pending:       "white",
	}
	g := &runtime.Graph{Flow: "States"}
	states := map[string]runtime.State{}
	all := []runtime.State{runtime.Pending, runtime.Running, runtime.Success, runtime.Failed, runtime.TriggerFailed,
		runtime.Skipped, runtime.Mapped, runtime.Retrying, runtime.Cached, runtime.TimedOut, runtime.Cancelled, runtime.Crashed}
	for _, s := range all {
		g.Add(task("t_" + s.String()))
		states["t_"+s.String()] = s
	}
	g.Add(task("unknown"))
	out := writeDOT(t, g, dot.Options{States: states})
	fills := map[string]runtime.State{}
	for _, s := range all {
		fill, font := dot.StateColor(s)
		if w, ok := want[s]; ok && fill != w {
			t.Errorf("StateColor(%s) = %s, want %s", s, fill, w)
		}
		if prev, ok := fills[fill]; ok {
			t.Errorf("%s and %s share the colour %s", prev, s, fill)
		}
		fills[fill] = s
		l := nodeLine(t, out, "t_"+s.String())
		for _, part := range []string{
			`label="t_` + s.String() + `\n` + s.String() + `"`,
			`fillcolor="` + fill + `"`,
			`style="filled,bold"`, // every node is terminal, so a reference
		} {
			if !strings.Contains(l, part) {
				t.Errorf("node of state %s lacks %s: %s", s, part, l)
			}
		}
		if (font != "") != strings.Contains(l, "fontcolor=") {
			t.Errorf("node of state %s: font colour %q, line %s", s, font, l)
		}
	}
	if l := nodeLine(t, out, "unknown"); strings.Contains(l, "fill") || strings.Contains(l, `\n`) {
		t.Errorf("a node without a state is coloured: %s", l)
	}
}

func TestWriteDOTErrors(t *testing.T) {
	if err := dot.Write(io.Discard, nil, dot.Options{}); err == nil {
		t.Error("WriteDOT(nil graph) succeeded")
	}
	g := &runtime.Graph{Flow: "Bad"}
	n := task("n")
	n.Upstream = []runtime.NodeID{7}
	g.Add(n)
	if err := dot.Write(io.Discard, g, dot.Options{}); err == nil || !strings.Contains(err.Error(), "unknown node 7") {
		t.Errorf("edge to an unknown node: err = %v", err)
	}
	boom := errors.New("disk full")
	if err := dot.Write(failingWriter{boom}, kinds(), dot.Options{}); !errors.Is(err, boom) {
		t.Errorf("write error: got %v, want %v", err, boom)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestRender has Graphviz render every example flow's DOT, and a graph of
// odd names, to SVG and PNG.
func TestRender(t *testing.T) {
	dotCmd, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz's dot is not on PATH; install the Debian package graphviz (apt-get install graphviz, or make setup) to run the render test")
	}
	type input struct {
		name string
		g    *runtime.Graph
	}
	var inputs []input
	for _, path := range exampleFlows(t) {
		inputs = append(inputs, input{strings.TrimSuffix(filepath.Base(path), ".star"), build(t, path, true).Graph})
	}
	inputs = append(inputs, input{"kinds", kinds()}, input{"odd_names", oddNames()})
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			src := writeDOT(t, in.g, dot.Options{})
			svg := render(t, dotCmd, "svg", src)
			texts := svgTexts(t, svg)
			for _, n := range in.g.Nodes {
				for _, line := range strings.Split(n.Name, "\n") {
					if !texts[line] {
						t.Errorf("the SVG shows no text %q (node %q); texts: %v", line, n.Name, texts)
					}
				}
			}
			png := render(t, dotCmd, "png", src)
			if sig := []byte("\x89PNG\r\n\x1a\n"); !bytes.HasPrefix(png, sig) {
				t.Errorf("PNG output starts %q, want the PNG signature", png[:min(len(png), 8)])
			}
		})
	}
}

func render(t *testing.T, dotCmd, format, src string) []byte {
	t.Helper()
	c := exec.Command(dotCmd, "-T"+format)
	c.Stdin = strings.NewReader(src)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -T%s: %v\n%s\ninput:\n%s", format, err, stderr.String(), src)
	}
	return out
}

// svgTexts parses an SVG document, checks its root is <svg>, and returns
// the contents of its <text> elements.
func svgTexts(t *testing.T, svg []byte) map[string]bool {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	texts := map[string]bool{}
	var root string
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse as XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			inText = e.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts[string(e)] = true
			}
		}
	}
	if root != "svg" {
		t.Fatalf("SVG root element is <%s>, want <svg>", root)
	}
	return texts
}
