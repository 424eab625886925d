package repl

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/builtins"
)

// BenchmarkView is one frame of the REPL with a long transcript (10,000
// lines, some wider than the screen) and the run pane of a finished run:
// only the lines on screen are wrapped and drawn.
func BenchmarkView(b *testing.B) {
	ui := NewUI()
	m, err := builtins.Load("../flows/debug.star", builtins.LoadOptions{OnRun: ui.OnRun, RunConcurrency: 1})
	if err != nil {
		b.Fatal(err)
	}
	s := New(m, Options{Flow: m.Flows[0]})
	model := ui.NewModel(context.Background(), s, UIOptions{Title: "flows/debug.star", Width: 160, Height: 50})
	if _, err := s.Eval(context.Background(), "flow.run()\n"); err != nil {
		b.Fatal(err)
	}
	model.receive(ui.box.receive().(batchMsg))
	for i := range 10000 {
		model.out.add(fmt.Sprintf(">>> x%d = %q", i, strings.Repeat("ab", i%120)))
	}
	model.in.set("@task\ndef f(x):\n    return x * 2")
	if model.pane == nil {
		b.Fatal("no run pane")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = model.View()
	}
}
