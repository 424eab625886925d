// Package host is wfsh's side of its plugins: finding wfsh-plugin-NAME
// executables, starting each lazily as a go-plugin subprocess, calling its
// functions, and stopping it at the end of the run.
package host

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Prefix starts the name of every plugin executable.
const Prefix = "wfsh-plugin-"

// Found is a plugin that discovery found.
type Found struct {
	Name string
	// Path is the executable; for a plugin served by wfsh itself, the wfsh
	// executable.
	Path string
	// Builtin is true for plugins served by wfsh itself in plugin mode.
	Builtin bool
}

// Options say where plugins are and how wfsh serves its own.
type Options struct {
	// Self is the wfsh executable, which serves the Builtin plugins when
	// started as `wfsh __plugin NAME`.
	Self    string
	Builtin []string
	// Dirs are searched in order; nil means SearchDirs().
	Dirs []string
	// Reap makes this process a child subreaper when it starts a plugin,
	// and sweeps what dead plugins left behind (a command's children
	// orphaned by a killed plugin): wfsh sets it, as the one parent of
	// its plugins. A program that embeds the host beside children of its
	// own (a test starting servers) leaves it off: the sweep would end
	// their orphans too.
	Reap bool
}

// SearchDirs is the lookup order: the directory of the wfsh executable,
// then $WFSH_PLUGIN_DIR, then each directory of $PATH.
func SearchDirs(self string) []string {
	var dirs []string
	if self != "" {
		dirs = append(dirs, filepath.Dir(self))
	}
	if d := os.Getenv("WFSH_PLUGIN_DIR"); d != "" {
		dirs = append(dirs, filepath.SplitList(d)...)
	}
	return append(dirs, filepath.SplitList(os.Getenv("PATH"))...)
}

func (o *Options) dirs() []string {
	if o.Dirs != nil {
		return o.Dirs
	}
	return SearchDirs(o.Self)
}

// Find returns the plugin named name: the first wfsh-plugin-NAME in the
// search directories, else wfsh's own.
func (o *Options) Find(name string) (Found, error) {
	for _, dir := range o.dirs() {
		path := filepath.Join(dir, Prefix+name)
		if isExecutable(path) {
			return Found{Name: name, Path: path}, nil
		}
	}
	for _, b := range o.Builtin {
		if b == name {
			return Found{Name: name, Path: o.Self, Builtin: true}, nil
		}
	}
	return Found{}, fmt.Errorf("no plugin named %q (%s); a plugin is an executable %s%s next to wfsh, in $WFSH_PLUGIN_DIR or on $PATH", name, o.foundList(), Prefix, name)
}

func (o *Options) foundList() string {
	all := o.Discover()
	if len(all) == 0 {
		return "no plugins found"
	}
	names := make([]string, len(all))
	for i, f := range all {
		names[i] = f.Name
	}
	return "plugins found: " + strings.Join(names, ", ")
}

// Discover lists every plugin, each name once, in lookup order's winner.
func (o *Options) Discover() []Found {
	seen := map[string]bool{}
	var out []Found
	for _, dir := range o.dirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), Prefix)
			path := filepath.Join(dir, e.Name())
			if !ok || name == "" || seen[name] || !isExecutable(path) {
				continue
			}
			seen[name] = true
			out = append(out, Found{Name: name, Path: path})
		}
	}
	for _, b := range o.Builtin {
		if !seen[b] {
			seen[b] = true
			out = append(out, Found{Name: b, Path: o.Self, Builtin: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
