package builtins

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

// PluginLoad is a load("@name") found by FindPluginLoad, or a use of
// run_deployment (Plugin empty, Deployment true): both need the
// executable that links the plugin protocol and the server's client.
type PluginLoad struct {
	Plugin     string // the name, without "@"
	Deployment bool   // a use of run_deployment, not a load
	Pos        runtime.Pos
}

// String says what was found, with its position.
func (pl PluginLoad) String() string {
	if pl.Deployment {
		return fmt.Sprintf("%s: run_deployment", pl.Pos)
	}
	return fmt.Sprintf("%s: load(\"@%s\")", pl.Pos, pl.Plugin)
}

// FindPluginLoad looks for a load("@name") in the flow file at path and the
// files it loads, without running any of them, and returns the first found
// (ok false: none). It lets a command that cannot serve plugins hand the
// whole command to one that can before anything has happened
// (docs/architecture.md, "Two executables"). A file that does not read or
// parse is passed over: loading it reports that. A use of the name
// run_deployment (a call of the builtin that starts a server's run) counts
// too.
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
		var dep *syntax.Ident
		syntax.Walk(f, func(n syntax.Node) bool {
			if id, ok := n.(*syntax.Ident); ok && id.Name == "run_deployment" && dep == nil {
				dep = id
			}
			return dep == nil
		})
		if dep != nil {
			return PluginLoad{Deployment: true, Pos: toPos(dep.NamePos)}, true
		}
		return PluginLoad{}, false
	}
	return find(path)
}
