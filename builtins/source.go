package builtins

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// A defInfo is what the cache needs to know of one function of a flow
// file (docs/store.md, Caching): its source, the module-level names its
// body uses, and the context keys it reads. Every def and lambda of every
// loaded file has one, by the position of its def keyword.
type defInfo struct {
	text    []byte    // the def statement's lines
	globals []string  // names of module globals it uses
	loads   []loadRef // names bound by load() it uses
	ctxKeys []string  // context keys it reads; "*" for a key computed at run time
}

type loadRef struct{ path, name string }

// recordDefs analyses the functions of a file once it is compiled, when
// every identifier knows what it refers to.
func (e *env) recordDefs(path string, src []byte, f *syntax.File) {
	loads := map[*syntax.Ident]loadRef{}
	for _, stmt := range f.Stmts {
		if l, ok := stmt.(*syntax.LoadStmt); ok {
			mod, _ := l.Module.Value.(string)
			for i, to := range l.To {
				loads[to] = loadRef{path: filepath.Join(filepath.Dir(path), mod), name: l.From[i].Name}
			}
		}
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	syntax.Walk(f, func(n syntax.Node) bool {
		var pos syntax.Position
		var body syntax.Node
		switch n := n.(type) {
		case *syntax.DefStmt:
			pos, body = n.Def, n
		case *syntax.LambdaExpr:
			pos, body = n.Lambda, n
		default:
			return true
		}
		start, end := body.Span()
		info := &defInfo{text: bytes.Join(lines[max(start.Line-1, 0):min(int(end.Line), len(lines))], nil)}
		info.analyse(body, loads)
		e.defs[posKey(pos)] = info
		return true
	})
}

func posKey(p syntax.Position) string {
	return fmt.Sprintf("%s:%d:%d", p.Filename(), p.Line, p.Col)
}

// analyse collects the names and context keys a function body uses.
func (d *defInfo) analyse(body syntax.Node, loads map[*syntax.Ident]loadRef) {
	seen := map[string]bool{}
	keys := map[string]bool{}
	syntax.Walk(body, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Ident:
			b, _ := n.Binding.(*resolve.Binding)
			if b == nil || seen[n.Name] {
				break
			}
			switch b.Scope {
			case resolve.Global:
				seen[n.Name] = true
				d.globals = append(d.globals, n.Name)
			case resolve.Free, resolve.Local, resolve.Cell:
				if ref, ok := loads[b.First]; ok {
					seen[n.Name] = true
					d.loads = append(d.loads, ref)
				}
			}
		case *syntax.DotExpr:
			if isContextCall(n.X) && n.Name.Name != "get" {
				keys[n.Name.Name] = true
			}
		case *syntax.CallExpr:
			if dot, ok := n.Fn.(*syntax.DotExpr); ok && isContextCall(dot.X) && dot.Name.Name == "get" {
				key := "*"
				if len(n.Args) > 0 {
					if lit, ok := n.Args[0].(*syntax.Literal); ok && lit.Token == syntax.STRING {
						key = lit.Value.(string)
					}
				}
				keys[key] = true
			}
		}
		return true
	})
	for k := range keys {
		d.ctxKeys = append(d.ctxKeys, k)
	}
	sort.Strings(d.ctxKeys)
}

// isContextCall reports whether x is a use of `context`, which the
// loader rewrote into a call of __wfsh_context__().
func isContextCall(x syntax.Expr) bool {
	c, ok := x.(*syntax.CallExpr)
	if !ok {
		return false
	}
	id, ok := c.Fn.(*syntax.Ident)
	return ok && id.Name == contextName
}

// A taskDigest sums up what a task's results depend on besides its
// inputs: its source and the source of what it calls (functions and
// tasks of its file and of the files it loads, transitively), the values
// of the module-level names they use, the version of its plugin; and
// the context keys they read.
type taskDigest struct {
	sum     []byte
	ctxKeys []string
}

type digester struct {
	e    *env
	buf  bytes.Buffer
	seen map[starlark.Value]bool
	keys map[string]bool
}

// digestOf returns t's digest, computing it once per load.
func (e *env) digestOf(t *Task) *taskDigest {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := e.digests[t]; d != nil {
		return d
	}
	dg := &digester{e: e, seen: map[starlark.Value]bool{}, keys: map[string]bool{}}
	dg.value(t)
	d := &taskDigest{sum: dg.buf.Bytes()}
	for k := range dg.keys {
		d.ctxKeys = append(d.ctxKeys, k)
	}
	sort.Strings(d.ctxKeys)
	e.digests[t] = d
	return d
}

func (d *digester) value(v starlark.Value) {
	switch v := v.(type) {
	case *Task:
		fmt.Fprintf(&d.buf, "task %s\n", v.name)
		d.value(v.fn)
	case *starlark.Function:
		d.function(v)
	case *pluginFunc:
		fmt.Fprintf(&d.buf, "plugin %s %s function %s\n", v.plugin, v.version, v.desc.Name)
	case *partial:
		d.value(v.f)
		for _, kv := range v.defaults {
			fmt.Fprintf(&d.buf, "default %s=%s\n", kv[0], kv[1])
		}
	case *starlark.Builtin:
		fmt.Fprintf(&d.buf, "builtin %s\n", v.Name())
	case *Flow:
		fmt.Fprintf(&d.buf, "flow %s\n", v.name)
	case nil:
		d.buf.WriteString("undefined\n")
	default:
		fmt.Fprintf(&d.buf, "%s %s\n", v.Type(), v.String())
	}
}

func (d *digester) function(fn *starlark.Function) {
	if d.seen[fn] {
		fmt.Fprintf(&d.buf, "function %s again\n", fn.Name())
		return
	}
	d.seen[fn] = true
	info := d.e.defs[posKey(fn.Position())]
	if info == nil {
		fmt.Fprintf(&d.buf, "function %s at %s\n", fn.Name(), fn.Position())
		return
	}
	d.buf.Write(info.text)
	for _, k := range info.ctxKeys {
		d.keys[k] = true
	}
	var globals starlark.StringDict
	if len(info.globals) > 0 {
		globals = fn.Globals()
	}
	for _, name := range info.globals {
		fmt.Fprintf(&d.buf, "global %s: ", name)
		d.value(globals[name])
	}
	for _, l := range info.loads {
		fmt.Fprintf(&d.buf, "loaded %s from %s: ", l.name, filepath.Base(l.path))
		d.value(d.e.loaded(l))
	}
}

// loaded is the value a load() bound, from the file already loaded.
func (e *env) loaded(l loadRef) starlark.Value {
	abs, err := filepath.Abs(l.path)
	if err != nil {
		return nil
	}
	if f := e.files[abs]; f != nil {
		return f.globals[l.name]
	}
	return nil
}
