package main

import (
	"encoding/json"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/wfsh/wfsh/runner"
)

// readYAMLObject reads a YAML or JSON file holding one object, as JSON:
// a pool's Job template, a deployment's job variables.
func readYAMLObject(flag, path string) (json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return parseYAMLObject(flag, path, data)
}

// parseYAMLObject is readYAMLObject of data read from path.
func parseYAMLObject(flag, path string, data []byte) (json.RawMessage, error) {
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%s %s: want an object (a mapping), the file has none", flag, path)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return b, nil
}

// jobVariables reads `--job-vars FILE` and then `--job-var KEY=VALUE`
// (VALUE as JSON where it parses, else a string, as -p), the latter
// winning.
func jobVariables(file string, kvs []string) (map[string]json.RawMessage, error) {
	vars := map[string]json.RawMessage{}
	if file != "" {
		b, err := readYAMLObject("--job-vars", file)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &vars); err != nil {
			return nil, fmt.Errorf("--job-vars %s: %w", file, err)
		}
	}
	raw, err := splitKV("--job-var", kvs)
	if err != nil {
		return nil, err
	}
	for k, v := range raw {
		vars[k] = runner.JSONOrString(v)
	}
	return vars, nil
}
