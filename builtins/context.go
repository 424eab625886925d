package builtins

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"sync"
	"time"

	starlarktime "go.starlark.net/lib/time"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/runtime"
)

const localTask = "wfsh.task"

// runInfo is what every task run of one flow run shares: ids, parameters,
// the context overrides, secrets.
type runInfo struct {
	runID     string
	flow      string
	params    *starlark.Dict
	date      time.Time         // scheduled start
	today     time.Time         // date of `today`, possibly overridden
	overrides map[string]string // --context k=v
	redactor  *runtime.Redactor
	getenv    func(string) (string, bool)
	digests   sync.Map // of argument values, for cache keys (cache.go)
}

// taskRun is the thread-local state of a running task body.
type taskRun struct {
	call *runtime.Call
	run  *runInfo
	ctx  context.Context // cancelled with the task run: plugin calls use it
}

func taskRunOf(thread *starlark.Thread) *taskRun {
	tr, _ := thread.Local(localTask).(*taskRun)
	return tr
}

// RunSettings are the per-run inputs of a flow build.
type RunSettings struct {
	RunID    string
	Context  map[string]string // overrides; "today" moves the derived keys
	Now      time.Time         // zero: time.Now()
	Redactor *runtime.Redactor
	Getenv   func(string) (string, bool) // nil: os.LookupEnv
}

func newRunInfo(flow string, params *starlark.Dict, s RunSettings) (*runInfo, error) {
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	ri := &runInfo{runID: s.RunID, flow: flow, params: params, date: now, today: now,
		overrides: s.Context, redactor: s.Redactor, getenv: s.Getenv}
	if ri.getenv == nil {
		ri.getenv = os.LookupEnv
	}
	if ri.redactor == nil {
		ri.redactor = &runtime.Redactor{}
	}
	if d, ok := s.Context["today"]; ok {
		t, err := parseDay(d)
		if err != nil {
			return nil, fmt.Errorf("--context today=%s: %v", d, err)
		}
		ri.today = t
	}
	if d, ok := s.Context["date"]; ok {
		t, err := time.Parse(time.RFC3339, d)
		if err != nil {
			return nil, fmt.Errorf("--context date=%s: want RFC 3339, e.g. 2020-11-30T09:00:00+09:00", d)
		}
		ri.date = t
	}
	return ri, nil
}

// paramsOf is the parameters of c's flow run: those given at run time to
// a child flow run (c.Params), else the run's own.
func (ri *runInfo) paramsOf(c *runtime.Call) *starlark.Dict {
	if c == nil || c.Params == nil || len(c.Params) != ri.params.Len() {
		return ri.params
	}
	d := starlark.NewDict(len(c.Params))
	for i, k := range ri.params.Keys() {
		_ = d.SetKey(k, toStarlark(c.Params[i]))
	}
	d.Freeze()
	return d
}

func parseDay(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a date as YYYY-MM-DD")
}

// contextValue is `context` as seen by one thread: run keys in a flow body,
// run and task keys in a task body.
type contextValue struct {
	run  *runInfo
	call *runtime.Call // nil at build time
}

var contextMethods = map[string]*starlark.Builtin{
	"get": starlark.NewBuiltin("get", contextGet),
}

var contextKeys = []string{"date", "flow_name", "flow_run_id", "map_index", "parameters", "run_count",
	"task_name", "task_run_id", "today", "today_nodash", "tomorrow", "tomorrow_nodash", "yesterday", "yesterday_nodash"}

func (c *contextValue) String() string        { return "<context>" }
func (c *contextValue) Type() string          { return "context" }
func (c *contextValue) Freeze()               {}
func (c *contextValue) Truth() starlark.Bool  { return true }
func (c *contextValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: context") }

func (c *contextValue) AttrNames() []string {
	names := append([]string{"get"}, contextKeys...)
	for k := range c.run.overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (c *contextValue) Attr(name string) (starlark.Value, error) {
	if v, ok := c.lookup(name); ok {
		return v, nil
	}
	return builtinAttr(c, name, contextMethods)
}

func (c *contextValue) lookup(key string) (starlark.Value, bool) {
	day := func(offset int) string { return c.run.today.AddDate(0, 0, offset).Format("2006-01-02") }
	nodash := func(offset int) string { return c.run.today.AddDate(0, 0, offset).Format("20060102") }
	switch key {
	case "today":
		return starlark.String(day(0)), true
	case "today_nodash":
		return starlark.String(nodash(0)), true
	case "yesterday":
		return starlark.String(day(-1)), true
	case "yesterday_nodash":
		return starlark.String(nodash(-1)), true
	case "tomorrow":
		return starlark.String(day(1)), true
	case "tomorrow_nodash":
		return starlark.String(nodash(1)), true
	case "date":
		return starlarktime.Time(c.run.date), true
	case "flow_name":
		return starlark.String(c.run.flow), true
	case "flow_run_id":
		if c.call != nil && c.call.RunID != "" { // a child flow run's id is known only then
			return starlark.String(c.call.RunID), true
		}
		return starlark.String(c.run.runID), true
	case "parameters":
		return c.run.paramsOf(c.call), true
	}
	if v, ok := c.run.overrides[key]; ok {
		return starlark.String(v), true
	}
	return c.taskKey(key)
}

func (c *contextValue) taskKey(key string) (starlark.Value, bool) {
	if c.call == nil || c.call.Node == nil { // a flow hook's
		return nil, false
	}
	switch key {
	case "task_name":
		return starlark.String(c.call.Node.Task), true
	case "task_full_name":
		return starlark.String(c.call.TaskRun), true
	case "task_run_id":
		return starlark.String(c.call.TaskRunID()), true
	case "map_index":
		if c.call.MapIndex < 0 {
			return starlark.None, true
		}
		return starlark.MakeInt(c.call.MapIndex), true
	case "run_count":
		return starlark.MakeInt(c.call.Attempt), true
	}
	return nil, false
}

func contextGet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var def starlark.Value = starlark.None
	if err := starlark.UnpackPositionalArgs("context.get", args, kwargs, 1, &key, &def); err != nil {
		return nil, err
	}
	if v, ok := b.Receiver().(*contextValue).lookup(key); ok {
		return v, nil
	}
	return def, nil
}

// contextName is what `context` is rewritten to: a call that finds the
// calling thread's run.
const contextName = "__wfsh_context__"

func currentContext(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if tr := taskRunOf(thread); tr != nil {
		return &contextValue{run: tr.run, call: tr.call}, nil
	}
	if bd := builderOf(thread); bd != nil {
		return &contextValue{run: bd.run}, nil
	}
	return nil, fmt.Errorf("context: only available while a flow runs (in a task body or a flow body), not at the top level of a file")
}

// rewriteContext turns each use of the predeclared name `context` into a
// call of __wfsh_context__(), since an attribute lookup cannot see which
// thread, and so which task run, is asking. A file that binds `context`
// itself keeps its own meaning.
func rewriteContext(f *syntax.File, isPredeclared func(string) bool) {
	if err := resolve.File(f, isPredeclared, starlark.Universe.Has); err != nil {
		return // compilation reports it
	}
	replaceIdents(reflect.ValueOf(f))
}

var exprType = reflect.TypeFor[syntax.Expr]()

func replaceIdents(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		// Resolver annotations (Binding, Function, Module) are of type any
		// and point back into the tree: only syntax interfaces are followed.
		if !v.IsNil() && v.Type().NumMethod() > 0 {
			replaceIdents(v.Elem())
		}
	case reflect.Pointer:
		if !v.IsNil() {
			replaceIdents(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				replaceField(f)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			replaceField(v.Index(i))
		}
	}
}

func replaceField(f reflect.Value) {
	if f.Type() == exprType && !f.IsNil() {
		if id, ok := f.Interface().(*syntax.Ident); ok && isContextUse(id) {
			f.Set(reflect.ValueOf(contextCall(id)))
			return
		}
	}
	replaceIdents(f)
}

func isContextUse(id *syntax.Ident) bool {
	if id.Name != "context" {
		return false
	}
	b, ok := id.Binding.(*resolve.Binding)
	return ok && b.Scope == resolve.Predeclared
}

func contextCall(id *syntax.Ident) *syntax.CallExpr {
	return &syntax.CallExpr{Fn: &syntax.Ident{NamePos: id.NamePos, Name: contextName}, Lparen: id.NamePos, Rparen: id.NamePos}
}
