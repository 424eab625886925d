package repl

import (
	"slices"
	"strings"
	"testing"
)

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"", true},
		{"   \n", true},
		{"x = 1\n", true},
		{"flow.run()\n", true},
		{"# a comment\n", true},
		{"x = (1,\n", false},                // open bracket
		{"x = [\n\n", false},                // blank lines inside brackets go on
		{"s = '''abc\n", false},             // open triple-quoted string
		{"s = 'abc\n", true},                // a one-line string cannot go on: error
		{"x = 1 +\n", true},                 // a syntax error: report it
		{"def f(:\n", true},                 // likewise
		{"lambda\n", true},                  //
		{"def f():\n", false},               // a block opens
		{"def f():\n    return 1\n", false}, // a compound statement waits for a blank line
		{"def f():\n    return 1\n\n", true},
		{"def f():\n    return 1\n    \n", true}, // spaces only count as blank
		{"def f(): return 1\n", false},
		{"def f(): return 1\n\n", true},
		{"def f():\n\n", true}, // an empty block after a blank line: report it
		{"if x:\n    a()\nelse:\n", false},
		{"if x:\n    a()\nelse:\n    b()\n\n", true},
		{"@task\n", false}, // a decorator waits for its def
		{"@task\n\n", true},
		{"@task\nx = 1\n", true}, // not followed by a def: report it
		{"@task\n@other\n", false},
		{"def f():\n    @task\n", false},
		{"def f():\n    @task\n    def g():\n", false},
		{"@task(\n", false},
		{"@task(\n    retries=2,\n)\n", false},
		{"@task(\n    retries=2,\n)\ndef f():\n", false},
		{"@task(\n    retries=2,\n)\ndef f():\n    return 1\n", false},
		{"@task(\n    retries=2,\n)\ndef f():\n    return 1\n\n", true},
		{"f(\n  1,\n  2)\n", true},
		{"  x = 1\n", true}, // unexpected indent: report it
	} {
		if got := Complete(tc.src); got != tc.want {
			t.Errorf("Complete(%q) = %v, want %v", tc.src, got, tc.want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"statements", "x = 1\ny = 2\n", []string{"x = 1\n", "y = 2\n"}},
		{"no final newline", "x = 1\ny", []string{"x = 1\n", "y"}},
		{"blank lines and comments count", "\n# c\nx = 1\n", []string{"\n", "# c\n", "x = 1\n"}},
		{"brackets", "f(\n  1,\n)\nx\n", []string{"f(\n  1,\n)\n", "x\n"}},
		{"def ended by a blank line", "def f():\n    return 1\n\nf()\n", []string{"def f():\n    return 1\n\n", "f()\n"}},
		{"def ended by the next statement", "def f():\n    return 1\nf()\n", []string{"def f():\n    return 1\n", "f()\n"}},
		{"decorated def", "@task\ndef f():\n    return 1\nflow.replace(\"g\", f)\n",
			[]string{"@task\ndef f():\n    return 1\n", "flow.replace(\"g\", f)\n"}},
		{"decorator with arguments over lines", "@task(\n    retries=2,\n)\ndef f():\n    return 1\n",
			[]string{"@task(\n    retries=2,\n)\ndef f():\n    return 1\n"}},
		{"else goes on", "if x:\n    a()\nelse:\n    b()\ny\n", []string{"if x:\n    a()\nelse:\n    b()\n", "y\n"}},
		{"elsewhere is a name", "if x:\n    a()\nelsewhere = 1\n", []string{"if x:\n    a()\n", "elsewhere = 1\n"}},
		{"comment inside a def", "def f():\n# note\n    return 1\n", []string{"def f():\n# note\n    return 1\n"}},
		{"incomplete at the end", "x = (1,\n", []string{"x = (1,\n"}},
		{"syntax error", "x = 1 +\ny\n", []string{"x = 1 +\n", "y\n"}},
		{"decorator without def", "@task\nx = 1\ny\n", []string{"@task\nx = 1\n", "y\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := Split(strings.NewReader(tc.in), func(s string) bool { got = append(got, s); return true }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Split(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if strings.Join(got, "") != tc.in {
				t.Errorf("entries do not add up to the input")
			}
		})
	}
}
