package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
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
