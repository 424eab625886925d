package builtins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

// LoadOptions connect a loaded module to the rest of wfsh.
type LoadOptions struct {
	// Plugins serve load("@name"); nil means no plugins.
	Plugins PluginHost
	// Print receives print() output outside task bodies; nil: stderr.
	Print func(msg string)
	// RunSink returns where flow.run() sends its events; nil: nowhere.
	RunSink func() runtime.Sink

	// OnRun, if set, is told of each flow.run() as it starts; the sink it
	// returns (if not nil) gets the run's events too.
	OnRun func(RunStart) runtime.Sink
	// RunConcurrency bounds the task bodies a flow.run() runs at once;
	// 0: the executor's default.
	RunConcurrency int
	// Execute, if set, runs each flow.run()'s build (the runner package
	// sets it, so that the REPL runs flows as `wfsh run` does); nil runs
	// it with runtime.Run.
	Execute func(context.Context, *Build, runtime.Options) *runtime.Result
	// Draw draws a graph for flow.visualize(): DOT, or format ("svg",
	// "png") rendered by Graphviz, the nodes coloured by states; a
	// *NoGraphvizError when Graphviz is missing. nil: flow.visualize()
	// fails. (The runner sets it; builtins draws nothing itself.)
	Draw func(ctx context.Context, g *runtime.Graph, states map[string]runtime.State, format string) ([]byte, error)
	// Interactive marks a session (`wfsh repl`), where flow.visualize()
	// may write files; flow code run by `wfsh run` stays hermetic.
	Interactive bool
	// Deployments start the runs of run_deployment(); nil: a
	// run_deployment() task fails with ErrNoServer.
	Deployments Deployments
}

// Module is a loaded flow file.
type Module struct {
	Path    string
	Globals starlark.StringDict
	Flows   []*Flow // in definition order
	env     *env
}

const (
	localEnv     = "wfsh.env"
	localLoading = "wfsh.loading" // set while a file's top level runs
)

// env is shared by every file of one load: options, the flow directory
// that files may be read from, and the cache of loaded files.
type env struct {
	opts        LoadOptions
	root        string
	predeclared starlark.StringDict
	files       map[string]*loadedFile
	defs        map[string]*defInfo // by position of the def (source.go)
	read        map[string]bool     // files read by read_file, load_yaml, load_json (Module.Files)
	redactor    *runtime.Redactor   // the secrets of every flow.run() (Module.Redactor)

	mu      sync.Mutex
	digests map[*Task]*taskDigest
}

type loadedFile struct {
	globals starlark.StringDict
	err     error
	loading bool
}

func newEnv(root string, opts LoadOptions) *env {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return &env{opts: opts, root: root, files: map[string]*loadedFile{}, read: map[string]bool{}, predeclared: predeclared(),
		defs: map[string]*defInfo{}, digests: map[*Task]*taskDigest{}, redactor: &runtime.Redactor{}}
}

func envOf(thread *starlark.Thread) *env {
	e, _ := thread.Local(localEnv).(*env)
	return e
}

func (e *env) print(_ *starlark.Thread, msg string) {
	if e != nil && e.opts.Print != nil {
		e.opts.Print(msg)
		return
	}
	fmt.Fprintln(os.Stderr, msg)
}

// Load reads, compiles and runs a flow file and the files it loads. The
// directory of path bounds what the flow may read.
func Load(path string, opts LoadOptions) (*Module, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	e := newEnv(filepath.Dir(abs), opts)
	globals, err := e.load(path)
	if err != nil {
		return nil, err
	}
	m := &Module{Path: path, Globals: globals, env: e}
	seen := map[*Flow]bool{}
	for _, v := range globals {
		if f, ok := v.(*Flow); ok && !seen[f] {
			seen[f] = true
			m.Flows = append(m.Flows, f)
		}
	}
	SortFlows(m.Flows)
	return m, nil
}

// load runs one file, once, and returns its frozen globals.
func (e *env) load(path string) (starlark.StringDict, error) {
	key, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if f := e.files[key]; f != nil {
		if f.loading {
			return nil, fmt.Errorf("cycle in load graph: %s loads itself", path)
		}
		return f.globals, f.err
	}
	f := &loadedFile{loading: true}
	e.files[key] = f
	f.globals, f.err = e.exec(path)
	f.loading = false
	return f.globals, f.err
}

func (e *env) exec(path string) (starlark.StringDict, error) {
	src, err := readFlowFile(path)
	if err != nil {
		return nil, readError(err)
	}
	thread := &starlark.Thread{Name: "load " + path, Load: e.loadModule, Print: e.print}
	globals, err := e.execSource(thread, path, src)
	if err != nil {
		return nil, positioned(syntaxError(err))
	}
	globals.Freeze()
	return globals, nil
}

// execSource compiles and runs one file's source in thread, at definition
// time. Errors are Starlark's own.
func (e *env) execSource(thread *starlark.Thread, path string, src []byte) (starlark.StringDict, error) {
	f, err := ParseFile(path, src)
	if err != nil {
		return nil, err
	}
	rewriteContext(f, e.predeclared.Has)
	prog, err := starlark.FileProgram(f, e.predeclared.Has)
	if err != nil {
		return nil, err
	}
	e.recordDefs(path, src, f)
	thread.SetLocal(localEnv, e)
	thread.SetLocal(localLoading, path)
	return prog.Init(thread, e.predeclared)
}

func readError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// syntaxError turns parser and resolver errors into positioned ones.
func syntaxError(err error) error {
	var se syntax.Error
	if errors.As(err, &se) {
		return runtime.ErrorList{{Pos: toPos(se.Pos), Msg: se.Msg}}
	}
	var rl resolve.ErrorList
	if errors.As(err, &rl) {
		var list runtime.ErrorList
		for _, re := range rl {
			list.Add(toPos(re.Pos), "%s", re.Msg)
		}
		return list
	}
	return err
}

// loadModule serves load(): "@name" from a plugin, anything else a .star
// file relative to the loading file.
func (e *env) loadModule(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	if name, ok := strings.CutPrefix(module, "@"); ok {
		if e.opts.Plugins == nil {
			return nil, fmt.Errorf("no plugin named %q: no plugins are available", name)
		}
		return pluginModule(e.opts.Plugins, name)
	}
	path, err := e.resolve(thread, module)
	if err != nil {
		return nil, err
	}
	return e.load(path)
}

// resolve finds a path named in the file that is running, relative to that
// file, and refuses paths outside the flow's directory.
func (e *env) resolve(thread *starlark.Thread, name string) (string, error) {
	if filepath.IsAbs(name) {
		return "", fmt.Errorf("%s: absolute paths are not allowed; name files relative to the flow file", name)
	}
	from := callerPos(thread).File
	path := filepath.Join(filepath.Dir(from), name)
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if in, err := e.within(abs); err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	} else if !in {
		return "", fmt.Errorf("%s is outside the flow's directory %s: a flow may only read files in its own directory tree", name, e.root)
	}
	return path, nil
}

// predeclared is every name flow code sees besides Starlark's universe.
func predeclared() starlark.StringDict {
	d := ExtraBuiltins()
	for name, fn := range map[string]func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error){
		"task": task, "flow": flowDecorator, "unmapped": unmapped, "ifelse": ifelse, "switch": switch_,
		"case": case_, "merge": merge, "skip": skip, "secret": secret, "run_deployment": runDeployment, contextName: currentContext,
		"read_file": readFile, "load_yaml": loadYAML, "load_json": loadJSON,
		"Success": stateBuilder(runtime.Success), "Failed": stateBuilder(runtime.Failed),
		"Skipped": stateBuilder(runtime.Skipped),
		"cron":    cronBuiltin, "interval": intervalBuiltin, "rrule": rruleBuiltin,
	} {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	for k, v := range triggerValues() {
		d[k] = v
	}
	d["context"] = starlark.None // every use is rewritten to __wfsh_context__()
	return d
}

// definitionTime returns an error unless the thread runs a file's top level.
func definitionTime(thread *starlark.Thread, name string) error {
	if thread.Local(localLoading) == nil {
		return fmt.Errorf("%s: only at definition time (the top level of a file); read the file there and pass the value to tasks", name)
	}
	return nil
}

func readFile(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	data, err := readArg(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.String(data), nil
}

func readArg(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) ([]byte, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	if err := definitionTime(thread, b.Name()); err != nil {
		return nil, err
	}
	path, err := envOf(thread).resolve(thread, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	data, err := readFlowFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), readError(err))
	}
	envOf(thread).noteRead(path)
	return data, nil
}

func loadYAML(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return decodeFile(thread, b, args, kwargs, "yaml")
}

func loadJSON(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return decodeFile(thread, b, args, kwargs, "json")
}

// decodeFile reads a file and decodes it with the yaml or json module.
func decodeFile(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, module string) (starlark.Value, error) {
	data, err := readArg(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	mod, _ := envOf(thread).predeclared[module].(starlark.HasAttrs)
	decode, err := mod.Attr("decode")
	if err != nil {
		return nil, err
	}
	v, err := starlark.Call(thread, decode, starlark.Tuple{starlark.String(data)}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", b.Name(), args[0], err)
	}
	return v, nil
}

// FindFlow picks the flow to run: the one named name, or the only one.
func (m *Module) FindFlow(name string) (*Flow, error) {
	names := make([]string, len(m.Flows))
	for i, f := range m.Flows {
		if name != "" && (f.name == name || f.fn.Name() == name) {
			return f, nil
		}
		names[i] = fmt.Sprintf("%s (%s)", f.name, f.defPos)
	}
	file := runtime.Pos{File: m.Path}
	switch {
	case len(m.Flows) == 0:
		return nil, &runtime.PosError{Pos: file, Msg: "no flow defined: decorate a function with @flow"}
	case name != "":
		return nil, &runtime.PosError{Pos: file, Msg: fmt.Sprintf("no flow named %q (flows: %s)", name, strings.Join(names, ", "))}
	case len(m.Flows) > 1:
		if top := topFlows(m.Flows); len(top) == 1 {
			return top[0], nil
		}
		return nil, &runtime.PosError{Pos: file, Msg: fmt.Sprintf("%d flows defined; choose one with --flow (flows: %s)", len(m.Flows), strings.Join(names, ", "))}
	}
	return m.Flows[0], nil
}
