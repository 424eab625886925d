package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
)

// maxEcho bounds how much of a refused flag value a message repeats.
const maxEcho = 80

// splitKV splits "k=v" flag values. A key given twice is refused: the
// second would silently win.
func splitKV(flag string, kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %s: want KEY=VALUE", flag, echo(kv))
		}
		if was, dup := m[k]; dup {
			return nil, fmt.Errorf("%s %s: %s is given twice (first %s): give it once", flag, echo(kv), echo(k), echo(k+"="+was))
		}
		m[k] = v
	}
	return m, nil
}

// echo quotes a value given on the command line for a message, cut to
// maxEcho characters.
func echo(s string) string {
	if r := []rune(s); len(r) > maxEcho {
		return fmt.Sprintf("%q... (%d bytes)", string(r[:maxEcho]), len(s))
	}
	return fmt.Sprintf("%q", s)
}

// runInputs reads what every way of running a flow takes from its flags:
// --log-level, -p and --context. Its errors are bad input.
func runInputs(logLevel string, paramKVs, contextKVs []string) (runtime.Level, map[string]json.RawMessage, map[string]string, error) {
	level, err := runtime.ParseLevel(logLevel)
	if err != nil {
		return 0, nil, nil, badInput(err)
	}
	params, err := parseParams(paramKVs)
	if err != nil {
		return 0, nil, nil, badInput(err)
	}
	ctxKV, err := splitKV("--context", contextKVs)
	if err != nil {
		return 0, nil, nil, badInput(err)
	}
	return level, params, ctxKV, nil
}

// parseParams reads -p k=v values: v as JSON where it parses (6, true,
// [1,2], {"a": 1}), else as a string.
func parseParams(kvs []string) (map[string]json.RawMessage, error) {
	raw, err := splitKV("-p", kvs)
	if err != nil {
		return nil, err
	}
	params := make(map[string]json.RawMessage, len(raw))
	for k, v := range raw {
		params[k] = runner.JSONOrString(v)
	}
	return params, nil
}
