package builtins

import (
	"path/filepath"
	"strings"

	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

// PluginLoad is a load("@name") found by FindPluginLoad.
type PluginLoad struct {
	Plugin string // the name, without "@"
	Pos    runtime.Pos
}

// FindPluginLoad looks for a load("@name") in the flow file at path and the
// files it loads, without running any of them, and returns the first found
// (ok false: none). It lets a command that cannot serve plugins hand the
// whole command to one that can before anything has happened
// (docs/architecture.md, "Two executables"). A file that does not read or
// parse is passed over: loading it reports that.
func FindPluginLoad(path string) (PluginLoad, bool) {
	seen := map[string]bool{}
	var find func(path string) (PluginLoad, bool)
	find = func(path string) (PluginLoad, bool) {
		abs, err := filepath.Abs(path)
		if err != nil || seen[abs] {
			return PluginLoad{}, false
		}
		seen[abs] = true
		src, err := readFlowFile(path)
		if err != nil {
			return PluginLoad{}, false
		}
		f, err := ParseFile(path, src)
		if err != nil {
			return PluginLoad{}, false
		}
		for _, s := range f.Stmts {
			l, ok := s.(*syntax.LoadStmt)
			if !ok {
				continue
			}
			module, _ := l.Module.Value.(string)
			if name, ok := strings.CutPrefix(module, "@"); ok {
				return PluginLoad{Plugin: name, Pos: toPos(l.Load)}, true
			}
			if !filepath.IsAbs(module) {
				if pl, ok := find(filepath.Join(filepath.Dir(path), module)); ok {
					return pl, true
				}
			}
		}
		return PluginLoad{}, false
	}
	return find(path)
}
