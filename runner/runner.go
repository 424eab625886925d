// Package runner runs flow runs the one way every wfsh command does: load
// the flow file, build the graph, record the run in the store, reuse what
// --resume and the task cache give, send the events to the caller's sinks,
// stop on cancellation, and return the final state. `wfsh run`, `wfsh
// backfill`, `wfsh run --tui`, `--on kubernetes` (which only loads and
// builds) and the REPL's flow.run() call it; `wfsh serve` and the worker's
// child process are its next callers.
//
// A Runner holds what the runs of one process share (the plugins, the
// store, the secrets to mask) and no globals: a process may hold several.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/dot"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
	"github.com/wfsh/wfsh/store"
)

// Options configure a Runner.
type Options struct {
	// Plugins starts what serves the runs' load("@name"), given where
	// the plugin system's own messages go (nil: nowhere); nil: flows can
	// load no plugin. runner/pluginhost gives plugin executables.
	Plugins func(log io.Writer) Plugins
	// Level is the least level logged; go-plugin's own messages reach
	// Stderr at Debug only.
	Level runtime.Level
	// Stderr gets what goes wrong outside a run: the store's failures.
	Stderr io.Writer
	// Store records the runs; nil records nothing (--no-store).
	Store *Store
	// Concurrency bounds the task bodies of a run at once; 0 means
	// runtime.DefaultConcurrency.
	Concurrency int
	// Deployments start the runs of run_deployment() in flows; nil: such
	// a task fails, saying no server is named.
	Deployments builtins.Deployments
}

// Plugins serve the load("@name") of a Runner's runs.
type Plugins interface {
	builtins.PluginHost
	// Stop ends the plugins started.
	Stop()
}

// Runner runs flow runs. Close it when done.
type Runner struct {
	opt      Options
	plugins  Plugins // nil: none
	redactor *runtime.Redactor
	once     sync.Once
	// slots hold @flow(limits=...) between the runs of the Runner that
	// share no store (--no-store, the REPL's flow.run()).
	slots runtime.Slots
}

// New returns a Runner; plugins start when a flow loads one.
func New(opt Options) *Runner {
	red := &runtime.Redactor{}
	r := &Runner{opt: opt, redactor: red}
	if opt.Plugins != nil {
		r.plugins = opt.Plugins(PluginLog(opt.Stderr, opt.Level, red))
	}
	return r
}

// PluginLog is where the plugin system's own messages go: stderr at
// level Debug only, with red's secrets masked (red may be nil); else nil.
func PluginLog(stderr io.Writer, level runtime.Level, red *runtime.Redactor) io.Writer {
	if level > runtime.Debug || stderr == nil {
		return nil
	}
	return redactingWriter{w: stderr, r: red}
}

// Plugins serve the Runner's load("@name"); nil when it has none.
func (r *Runner) Plugins() Plugins { return r.plugins }

// Close stops the plugins and writes what is left of every run to the
// store, then closes it. It may be called more than once, and from
// another goroutine than the runs' (a second interrupt).
func (r *Runner) Close() {
	r.once.Do(func() {
		if r.plugins != nil {
			r.plugins.Stop()
		}
		r.opt.Store.Close()
	})
}

// Flow is a loaded flow file and the flow to run in it.
type Flow struct {
	Path   string
	Module *builtins.Module
	Flow   *builtins.Flow
}

// Load loads the flow file at path, its top-level print() output going
// to print (nil: dropped), and finds the flow named name ("" for the only
// one). Either failure is an *InputError.
func (r *Runner) Load(path, name string, print io.Writer) (*Flow, error) {
	return r.load(path, name, builtins.LoadOptions{Print: printFunc(print)})
}

// LoadAll loads the flow file at path, as Load does, and gives each of
// its flows, in definition order (none: an *InputError).
func (r *Runner) LoadAll(path string, print io.Writer) ([]*Flow, error) {
	m, err := r.loadModule(path, builtins.LoadOptions{Print: printFunc(print)})
	if err != nil {
		return nil, err
	}
	if len(m.Flows) == 0 {
		_, err := m.FindFlow("")
		return nil, &InputError{err}
	}
	fls := make([]*Flow, len(m.Flows))
	for i, f := range m.Flows {
		fls[i] = &Flow{Path: path, Module: m, Flow: f}
	}
	return fls, nil
}

// LoadInteractive loads path for the REPL: opt's Print, OnRun and
// Interactive are kept, and each flow.run() in the session runs as this
// Runner runs flows (its plugins, its concurrency).
func (r *Runner) LoadInteractive(path string, opt builtins.LoadOptions) (*builtins.Module, error) {
	opt.RunConcurrency = r.opt.Concurrency
	opt.Execute = r.execute
	return r.loadModule(path, opt)
}

func (r *Runner) load(path, name string, opt builtins.LoadOptions) (*Flow, error) {
	m, err := r.loadModule(path, opt)
	if err != nil {
		return nil, err
	}
	f, err := m.FindFlow(name)
	if err != nil {
		return nil, &InputError{err}
	}
	return &Flow{Path: path, Module: m, Flow: f}, nil
}

// loadModule loads path with this Runner's plugins and drawing; a file
// that does not load is an *InputError.
func (r *Runner) loadModule(path string, opt builtins.LoadOptions) (*builtins.Module, error) {
	if r.plugins != nil {
		opt.Plugins = r.plugins
	}
	opt.Draw = Draw
	opt.Deployments = r.opt.Deployments
	m, err := builtins.Load(path, opt)
	if err != nil {
		return nil, &InputError{err}
	}
	return m, nil
}

func printFunc(w io.Writer) func(string) {
	if w == nil {
		return func(string) {}
	}
	return func(s string) { fmt.Fprintln(w, s) }
}

// Draw draws a graph for flow.visualize() (builtins.LoadOptions.Draw)
// with the dot package and Graphviz.
func Draw(ctx context.Context, g *runtime.Graph, states map[string]runtime.State, format string) ([]byte, error) {
	out, err := dot.Draw(ctx, g, states, format)
	if errors.Is(err, dot.ErrNoDot) {
		return nil, &builtins.NoGraphvizError{Hint: dot.GraphvizHint}
	}
	return out, err
}

// execute runs a build of the REPL's flow.run().
func (r *Runner) execute(ctx context.Context, b *builtins.Build, opt runtime.Options) *runtime.Result {
	if opt.Concurrency == 0 {
		opt.Concurrency = r.opt.Concurrency
	}
	if opt.Limiter == nil && len(b.Graph.Limits) > 0 {
		opt.Limiter = r.slots.Limiter(b.Graph.Limits)
	}
	return runtime.Run(ctx, b.Graph, opt)
}

// Request is one flow run to make of a loaded flow.
type Request struct {
	// RunID names the run; "" makes a new id.
	RunID string
	// Params are the flow's parameters as JSON values, as the store
	// records them (`-p k=v` gives v where it is JSON, else v as a JSON
	// string).
	Params map[string]json.RawMessage
	// Context overrides context keys (today=2020-11-30).
	Context map[string]string
	// Resume is the recorded run this one resumes (Runner.Resumed), or
	// nil. Its parameters and context are the run's.
	Resume *Resumed
	// Scheduled, for a run made by a schedule, is its scheduled time (in
	// the schedule's zone), schedule id and unique key. Prepare then
	// takes the key in the store before it returns (an error wrapping
	// store.ErrKeyTaken when another run has it), and the run's context
	// gets the keys ScheduledContext gives, under those in Context.
	Scheduled *store.Scheduled
	// Queued: the scheduled run was queued (Runner.RecordQueued) under
	// RunID; Prepare starts that row rather than taking the key.
	Queued bool
	// Getenv reads what secret("NAME") reads (nil: the environment): a
	// worker's child resolves secrets through the server.
	Getenv func(string) (string, bool)
	// Slots, if set, is where the run's tagged task runs take the slots
	// of concurrency limits: a worker's child takes them from the
	// server (server.SlotClient), whatever the Runner's store.
	Slots store.SlotStore
	// Children, if set, records the run's child flow runs (its
	// subflows', and theirs) elsewhere: a worker's child makes each on
	// the server, whatever the Runner's store.
	Children RemoteChildren
}

// RemoteChildren records child flow runs away from the Runner's store.
type RemoteChildren interface {
	// Begin makes child run ch and returns the sink that records it
	// (results as appendResult writes them) and what ends its recording
	// once it has ended (waiting for its writes). An error fails the
	// subflow node's attempt.
	Begin(ctx context.Context, ch ChildRun, appendResult func([]byte, runtime.Value) ([]byte, error)) (runtime.Sink, func() error, error)
	// Resumed is, for run parent that resumes another, that run's child
	// run for parent's subflow task run taskRun, with its graph and task
	// runs (ResumedOf); nil when it has none.
	Resumed(ctx context.Context, parent, taskRun string) (*Resumed, error)
	// Slots is where child run id's tagged task runs take their slots.
	Slots(id string) store.SlotStore
}

// ChildRun is a child flow run that RemoteChildren makes: run ID of
// Graph's flow, the child of run Parent's task run TaskRun, with its
// parameters (a JSON object); ResumedFrom is the run it resumes, if any
// (the child run for TaskRun of the run Parent resumes).
type ChildRun struct {
	ID, Parent, TaskRun, ResumedFrom string
	Graph                            *runtime.Graph
	Params                           json.RawMessage
}

// ScheduledContext is schedule.Context: the context a run scheduled at t
// gets.
func ScheduledContext(t time.Time) map[string]string { return schedule.Context(t) }

// Run is a flow run built and ready to execute.
type Run struct {
	ID    string
	Build *builtins.Build
	r     *Runner
	hooks hooks
	// children, lease: Request.Children, and the slots' lease of a run
	// that takes its slots elsewhere.
	children RemoteChildren
	lease    time.Duration
}

// Graph is the run's graph, for the views that draw it.
func (run *Run) Graph() *runtime.Graph { return run.Build.Graph }

// Prepare builds the flow for req and starts recording the run. A flow
// that does not build is an *InputError. The store may still be opening:
// only --resume and the cache wait for it.
func (r *Runner) Prepare(ctx context.Context, f *Flow, req Request) (*Run, error) {
	params, ctxKV := req.Params, req.Context
	if req.Resume != nil {
		if err := req.Resume.check(params, ctxKV); err != nil {
			return nil, err
		}
		params, ctxKV = req.Resume.params, req.Resume.context
	}
	if req.Scheduled != nil && req.Resume == nil {
		kv := ScheduledContext(req.Scheduled.At)
		maps.Copy(kv, ctxKV)
		ctxKV = kv
	}
	values := ParamValues(params)
	id := req.RunID
	if id == "" {
		id = runtime.NewRunID()
	}
	b, err := f.Flow.Build(builtins.BuildOptions{Params: values,
		RunSettings: builtins.RunSettings{RunID: id, Context: ctxKV, Redactor: r.redactor, Getenv: req.Getenv}})
	if err != nil {
		return nil, &InputError{err}
	}
	h, err := r.opt.Store.begin(ctx, f.Path, b, id, params, ctxKV, req.Resume, req.Scheduled, req.Queued)
	if err != nil {
		return nil, err
	}
	var lease time.Duration
	if req.Slots != nil || req.Children != nil {
		if lease, err = slotLease(os.Getenv("WFSH_SLOT_LEASE")); err != nil {
			return nil, &InputError{err}
		}
	}
	if req.Slots != nil && hasTags(b.Graph) {
		h.limiter = &store.Limiter{Slots: req.Slots, RunID: id, Flow: b.Graph.Limits, Lease: lease}
	}
	return &Run{ID: id, Build: b, r: r, hooks: h, children: req.Children, lease: lease}, nil
}

// Execute runs the run, its events going to sink and to the store, and
// returns its result once every task run has ended and the store has
// what it recorded. Cancelling ctx cancels the run: it ends Cancelled.
func (run *Run) Execute(ctx context.Context, sink runtime.Sink) *runtime.Result {
	r := run.r
	if run.hooks.limiter == nil && len(run.Build.Graph.Limits) > 0 {
		run.hooks.limiter = r.slots.Limiter(run.Build.Graph.Limits)
	}
	res := runtime.Run(ctx, run.Build.Graph, runtime.Options{
		RunID: run.ID, Concurrency: r.opt.Concurrency, Redactor: r.redactor,
		Sink: runtime.Tee(sink, run.hooks.sink), Mocks: run.hooks.mocks, Cache: run.hooks.cache,
		Limiter: run.hooks.limiter, Subflows: &subflows{run: run, sink: sink, recs: map[string]*store.Recorder{}, ends: map[string]func() error{},
			from: map[string]string{run.ID: run.hooks.info.ResumedFrom}},
	})
	r.opt.Store.finish(run.hooks)
	return res
}

// ParamValues turns parameters given as JSON into Starlark values.
func ParamValues(raw map[string]json.RawMessage) map[string]starlark.Value {
	out := make(map[string]starlark.Value, len(raw))
	for k, v := range raw {
		out[k] = ParamValue(string(v))
	}
	return out
}

// ParamValue reads a parameter's value: JSON where it parses (6, true,
// [1,2], {"a": 1}), else a string.
func ParamValue(s string) starlark.Value {
	dec := json.NewDecoder(strings.NewReader(s))
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

// JSONOrString is v if it is JSON, else v as a JSON string: how `-p k=v`
// reads v.
func JSONOrString(v string) json.RawMessage {
	if json.Valid([]byte(v)) {
		return json.RawMessage(v)
	}
	b, _ := json.Marshal(v)
	return b
}

// redactingWriter masks secrets in what it writes.
type redactingWriter struct {
	w io.Writer
	r *runtime.Redactor
}

func (rw redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
