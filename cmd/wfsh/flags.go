package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
)

// splitKV splits "k=v" flag values.
func splitKV(flag string, kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// runInputs reads what every way of running a flow takes from its flags:
// --log-level, -p and --context. Its errors are bad input.
func runInputs(logLevel string, paramKVs, contextKVs []string) (runtime.Level, map[string]starlark.Value, map[string]string, error) {
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
func parseParams(kvs []string) (map[string]starlark.Value, error) {
	raw, err := splitKV("-p", kvs)
	if err != nil {
		return nil, err
	}
	params := map[string]starlark.Value{}
	for k, v := range raw {
		params[k] = paramValue(v)
	}
	return params, nil
}

func paramValue(s string) starlark.Value {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil || dec.More() {
		return starlark.String(s)
	}
	v, err := builtins.FromJSON(x)
	if err != nil {
		return starlark.String(s)
	}
	return v
}
