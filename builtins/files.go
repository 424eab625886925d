package builtins

import (
	"path/filepath"
	"sort"
)

// noteRead records a file that flow code read at definition time.
func (e *env) noteRead(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		e.read[abs] = true
	}
}

// Files returns every file the module's load read: the flow file, the
// .star files it loads and the files read by read_file, load_yaml and
// load_json, each once, as slash-separated paths relative to the flow
// file's directory, sorted. Together they are what the flow needs to be
// loaded elsewhere (wfsh run --on kubernetes ships them).
func (m *Module) Files() []string {
	seen := map[string]bool{}
	var out []string
	add := func(abs string) {
		rel, err := filepath.Rel(m.env.root, abs)
		if err != nil || seen[rel] {
			return
		}
		seen[rel] = true
		out = append(out, filepath.ToSlash(rel))
	}
	for abs := range m.env.files {
		add(abs)
	}
	for abs := range m.env.read {
		add(abs)
	}
	sort.Strings(out)
	return out
}

// Root is the flow file's directory: what a flow may read is under it.
func (m *Module) Root() string { return m.env.root }
