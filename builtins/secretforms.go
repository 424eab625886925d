package builtins

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wfsh/wfsh/runtime"
)

// addSecret registers a secret with the run's redactor, which masks it as
// written and as Starlark, Go and JSON quote it, and adds the forms
// yaml.encode writes it in: double-quoted with YAML's own escapes ("\e"
// for ESC, "\N", "\_", uppercase hex), and single-quoted with each quote
// doubled.
func addSecret(r *runtime.Redactor, secret string) {
	r.Add(secret)
	if len(secret) < 2 {
		return
	}
	pieces := []string{secret}
	if strings.Contains(secret, "\n") {
		for line := range strings.SplitSeq(secret, "\n") {
			if line = strings.TrimSpace(line); len(line) >= runtime.MinLine {
				pieces = append(pieces, line)
			}
		}
	}
	for _, p := range pieces {
		if q := yamlDoubleQuoted(p); q != p && q != "" {
			r.Add(q)
		}
		if strings.Contains(p, "'") {
			r.Add(strings.ReplaceAll(p, "'", "''"))
		}
	}
}

// yamlDoubleQuoted is s as yaml.encode writes it in double quotes, without
// the quotes; "" if it cannot be written.
func yamlDoubleQuoted(s string) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: s}); err != nil {
		return ""
	}
	if err := enc.Close(); err != nil {
		return ""
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	if len(out) < 2 || out[0] != '"' || out[len(out)-1] != '"' {
		return ""
	}
	return out[1 : len(out)-1]
}
