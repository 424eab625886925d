package repl

import (
	"context"
	"slices"
	"testing"

	"github.com/wfsh/wfsh/builtins"
)

func TestCompletions(t *testing.T) {
	m, err := builtins.Load("../flows/debug.star", builtins.LoadOptions{RunConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := New(m, Options{Flow: m.Flows[0]})
	if _, err := s.Eval(context.Background(), `r = flow.run(task_states={"number": Success("m", 1)})`+"\n"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		before    string
		start     int
		wantSome  []string
		wantNone  []string
		wantExact []string
	}{
		{before: "r.st", start: 2, wantExact: []string{"state", "states"}},
		{before: "x = r.res", start: 6, wantExact: []string{"result"}},
		{before: "flow.get_t", start: 5, wantExact: []string{"get_tasks"}},
		{before: "flow.", start: 5, wantSome: []string{"get_tasks", "name", "replace", "run", "visualize"}},
		{before: "r.states.", start: 9, wantSome: []string{"get", "items", "keys"}},
		{before: "fl", start: 0, wantExact: []string{"float", "flow"}},
		{before: "Succ", start: 0, wantExact: []string{"Success"}},
		{before: "squ", start: 0, wantExact: []string{"square"}},
		{before: "print(cu", start: 6, wantExact: []string{"cube"}},
		{before: "wh", start: 0, wantExact: []string{"while"}},
		{before: "_", start: 0, wantSome: []string{"__wfsh_context__"}},
		{before: "c", start: 0, wantNone: []string{"__wfsh_context__"}, wantSome: []string{"cube", "case", "context", "continue"}},
		{before: `print("fl`, start: 7},      // in a string
		{before: "x # fl", start: 4},         // in a comment
		{before: "flow.run().st", start: 11}, // after a call: nothing is called
		{before: "nope.x", start: 5},
		{before: "1.2", start: 2},
	} {
		start, got := s.Completions(tc.before)
		if start != tc.start {
			t.Errorf("%q: start %d, want %d", tc.before, start, tc.start)
		}
		if tc.wantExact != nil && !slices.Equal(got, tc.wantExact) {
			t.Errorf("%q: %q, want %q", tc.before, got, tc.wantExact)
		}
		for _, w := range tc.wantSome {
			if !slices.Contains(got, w) {
				t.Errorf("%q: %q lacks %q", tc.before, got, w)
			}
		}
		for _, w := range tc.wantNone {
			if slices.Contains(got, w) {
				t.Errorf("%q: %q has %q", tc.before, got, w)
			}
		}
		if tc.wantExact == nil && tc.wantSome == nil && len(got) > 0 {
			t.Errorf("%q: %q, want nothing", tc.before, got)
		}
	}
}
