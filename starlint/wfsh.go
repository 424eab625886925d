package starlint

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bazelbuild/buildtools/build"

	"github.com/wfsh/wfsh/starfmt"
)

// wfsh's own categories.
const (
	unusedTask       = "unused-task"
	shadowedTask     = "shadowed-task"
	retryDelay       = "retry-delay"
	scheduleTimezone = "schedule-timezone"
)

// Own lists wfsh's own checks, for docs and --help.
var Own = []string{unusedTask, shadowedTask, retryDelay, scheduleTimezone}

// defaultRetryDelay is what --fix gives a plugin task that retries with
// no delay: Airflow's default retry_delay.
const defaultRetryDelay = "5m"

// A finding of wfsh's own, with the change that fixes it, if any.
type fixable struct {
	Finding
	from  int // the first line of the statement it is about
	apply func()
}

// A task is a task the file defines: a def decorated with @task, or a
// plugin's task constructor assigned to a name (`x = shell_task(...)`).
type task struct {
	name    string
	pos     build.Position
	from    int             // its first line, decorators included
	options *build.CallExpr // @task(...) or the constructor call; nil for a bare @task
	body    build.Expr      // the def; nil for a constructor
	plugin  bool            // a constructor loaded from a plugin
}

// A module is what the checks know of a file.
type module struct {
	f       *starfmt.File
	lines   [][]byte
	plugins map[string]bool // names loaded from "@plugin" modules
	tasks   []*task
	byName  map[string]*task
	flows   int
	// params are the byte offsets of the parameters of every def.
	params map[int]bool
}

func newModule(f *starfmt.File, src []byte) *module {
	m := &module{f: f, lines: bytes.Split(src, []byte("\n")), plugins: map[string]bool{}, byName: map[string]*task{}, params: map[int]bool{}}
	m.collect()
	return m
}

// checks runs wfsh's own checks.
func (m *module) checks() []fixable {
	f := m.f
	var out []fixable
	for _, check := range []func() []fixable{m.unusedTasks, m.shadowedTasks, m.retryDelays, m.scheduleTimezones} {
		for _, fd := range check() {
			if !m.disabled(fd.from, fd.Line, fd.Category) {
				fd.File = f.Syntax.Path
				out = append(out, fd)
			}
		}
	}
	return out
}

// collect finds the file's plugin loads, tasks and flows.
func (m *module) collect() {
	for _, s := range m.f.Syntax.Stmt {
		if l, ok := s.(*build.LoadStmt); ok && strings.HasPrefix(l.Module.Value, "@") {
			for _, to := range l.To {
				m.plugins[to.Name] = true
			}
		}
	}
	build.WalkStatements(m.f.Syntax, func(x build.Expr, stk []build.Expr) error {
		switch x := x.(type) {
		case *build.DefStmt:
			m.decorated(x, stk)
		case *build.AssignExpr:
			m.constructor(x)
		}
		return nil
	})
	for _, t := range m.tasks {
		m.byName[t.name] = t
	}
}

// decorated records a def's parameters, and the def if it is decorated
// with @task or @flow.
func (m *module) decorated(def *build.DefStmt, stk []build.Expr) {
	for _, p := range def.Params {
		if id := paramName(p); id != nil {
			m.params[id.NamePos.Byte] = true
		}
	}
	decos := m.decoratorsOf(def, stk)
	for _, d := range decos {
		name, call := callee(d)
		switch name {
		case "task":
			from, _ := decos[len(decos)-1].Span()
			m.tasks = append(m.tasks, &task{name: def.Name, pos: def.StartPos, from: from.Line, options: call, body: def})
		case "flow":
			m.flows++
		}
	}
}

// decoratorsOf returns the decorators of def: the decorator statements
// just before it in its block.
func (m *module) decoratorsOf(def *build.DefStmt, stk []build.Expr) []build.Expr {
	block := m.f.Syntax.Stmt
	if len(stk) > 0 {
		block = blockOf(stk[len(stk)-1], def)
	}
	var decos []build.Expr
	for i, s := range block {
		if s != build.Expr(def) {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			d, ok := m.f.Decorator(block[j])
			if !ok {
				break
			}
			decos = append(decos, d)
		}
	}
	return decos
}

// blockOf returns the statement list of parent that holds s.
func blockOf(parent, s build.Expr) []build.Expr {
	var blocks [][]build.Expr
	switch p := parent.(type) {
	case *build.File:
		blocks = [][]build.Expr{p.Stmt}
	case *build.DefStmt:
		blocks = [][]build.Expr{p.Body}
	case *build.ForStmt:
		blocks = [][]build.Expr{p.Body}
	case *build.IfStmt:
		blocks = [][]build.Expr{p.True, p.False}
	}
	for _, b := range blocks {
		for _, x := range b {
			if x == s {
				return b
			}
		}
	}
	return nil
}

// constructor records `x = plugin_task(...)` with plugin_task loaded from
// a plugin.
func (m *module) constructor(a *build.AssignExpr) {
	lhs, ok := a.LHS.(*build.Ident)
	call, isCall := a.RHS.(*build.CallExpr)
	if !ok || a.Op != "=" || !isCall {
		return
	}
	if fn, ok := call.X.(*build.Ident); ok && m.plugins[fn.Name] {
		m.tasks = append(m.tasks, &task{name: lhs.Name, pos: lhs.NamePos, from: lhs.NamePos.Line, options: call, plugin: true})
	}
}

// callee returns the name a decorator calls or names: "task" for both
// `task` and `task(...)`, with the call if there is one.
func callee(x build.Expr) (string, *build.CallExpr) {
	switch x := x.(type) {
	case *build.Ident:
		return x.Name, nil
	case *build.CallExpr:
		if id, ok := x.X.(*build.Ident); ok {
			return id.Name, x
		}
	}
	return "", nil
}

// unusedTasks: in a file with a flow, a task the file never names again
// is never called (a library file's tasks are for others to call).
func (m *module) unusedTasks() []fixable {
	if m.flows == 0 || len(m.tasks) == 0 {
		return nil
	}
	used := map[string]bool{}
	build.Walk(m.f.Syntax, func(x build.Expr, stk []build.Expr) {
		if id, ok := x.(*build.Ident); ok && !m.defines(id, stk) {
			used[id.Name] = true
		}
	})
	var out []fixable
	for _, t := range m.tasks {
		if !used[t.name] {
			fd := m.finding(t.pos, unusedTask, fmt.Sprintf("task %q is defined but never called: no flow runs it", t.name))
			fd.from = t.from
			out = append(out, fd)
		}
	}
	return out
}

// defines reports whether id is the name a task constructor assigns.
func (m *module) defines(id *build.Ident, stk []build.Expr) bool {
	if len(stk) == 0 {
		return false
	}
	a, ok := stk[len(stk)-1].(*build.AssignExpr)
	return ok && a.LHS == build.Expr(id) && m.byName[id.Name] != nil && m.byName[id.Name].plugin
}

// shadowedTasks: a def's parameter named like a task hides the task in
// that def's body.
func (m *module) shadowedTasks() []fixable {
	var out []fixable
	build.WalkStatements(m.f.Syntax, func(x build.Expr, _ []build.Expr) error {
		def, ok := x.(*build.DefStmt)
		if !ok {
			return nil
		}
		for _, p := range def.Params {
			id := paramName(p)
			if id == nil || m.byName[id.Name] == nil {
				continue
			}
			t := m.byName[id.Name]
			out = append(out, m.finding(id.NamePos, shadowedTask, fmt.Sprintf(
				"parameter %q of %q shadows task %q (line %d): in %s's body the name is the parameter, not the task",
				id.Name, def.Name, t.name, t.pos.Line, def.Name)))
		}
		return nil
	})
	return out
}

// paramName is the name of a parameter: x or x=default (not *args).
func paramName(p build.Expr) *build.Ident {
	switch p := p.(type) {
	case *build.Ident:
		return p
	case *build.AssignExpr:
		id, _ := p.LHS.(*build.Ident)
		return id
	}
	return nil
}

// retryDelays: a task that calls a plugin and retries with no
// retry_delay retries at once, into the same failing service (Prefect 1
// refused max_retries without a retry_delay).
func (m *module) retryDelays() []fixable {
	var out []fixable
	for _, t := range m.tasks {
		if t.options == nil || !(t.plugin || m.callsPlugin(t.body)) {
			continue
		}
		retries := kwarg(t.options, "retries")
		if retries == nil || kwarg(t.options, "retry_delay") != nil || isZero(retries.RHS) {
			continue
		}
		start, _ := retries.Span()
		fd := m.finding(start, retryDelay, fmt.Sprintf("task %q retries a plugin call with no retry_delay: each retry calls the service again at once", t.name))
		fd.Fix = fmt.Sprintf("add retry_delay=%q", defaultRetryDelay)
		fd.apply = addKwarg(t.options, "retry_delay", defaultRetryDelay)
		out = append(out, fd)
	}
	return out
}

// callsPlugin reports whether a def's body names a plugin's function.
func (m *module) callsPlugin(def build.Expr) bool {
	found := false
	if def, ok := def.(*build.DefStmt); ok {
		for _, s := range def.Body {
			build.Walk(s, func(x build.Expr, _ []build.Expr) {
				if id, ok := x.(*build.Ident); ok && m.plugins[id.Name] {
					found = true
				}
			})
		}
	}
	return found
}

func isZero(x build.Expr) bool {
	lit, ok := x.(*build.LiteralExpr)
	return ok && lit.Token == "0"
}

// scheduleTimezones: cron, interval and rrule run in UTC without a
// timezone, which is rarely what a local time like "0 2 * * *" means.
func (m *module) scheduleTimezones() []fixable {
	var out []fixable
	build.Walk(m.f.Syntax, func(x build.Expr, _ []build.Expr) {
		call, ok := x.(*build.CallExpr)
		if !ok {
			return
		}
		fn, ok := call.X.(*build.Ident)
		if !ok || (fn.Name != "cron" && fn.Name != "interval" && fn.Name != "rrule") || kwarg(call, "timezone") != nil {
			return
		}
		fd := m.finding(fn.NamePos, scheduleTimezone, fmt.Sprintf("%s schedule has no timezone: it runs in UTC", fn.Name))
		fd.Fix = `add timezone="UTC"`
		fd.apply = addKwarg(call, "timezone", "UTC")
		out = append(out, fd)
	})
	return out
}

// kwarg returns the keyword argument name= of a call, or nil.
func kwarg(call *build.CallExpr, name string) *build.AssignExpr {
	for _, a := range call.List {
		if kw, ok := a.(*build.AssignExpr); ok && kw.Op == "=" {
			if id, ok := kw.LHS.(*build.Ident); ok && id.Name == name {
				return kw
			}
		}
	}
	return nil
}

// addKwarg returns the fix that adds name="value" to a call.
func addKwarg(call *build.CallExpr, name, value string) func() {
	return func() {
		call.List = append(call.List, &build.AssignExpr{LHS: &build.Ident{Name: name}, Op: "=", RHS: &build.StringExpr{Value: value}})
	}
}

func (m *module) finding(pos build.Position, category, msg string) fixable {
	return fixable{Finding: Finding{Line: pos.Line, Col: pos.LineRune, Category: category, Message: msg}, from: pos.Line}
}

// disabled reports whether a `# wfsh: disable=CATEGORY` comment sits on a
// line of the statement (lines from to line) or on the line above it.
func (m *module) disabled(from, line int, category string) bool {
	mark := []byte("wfsh: disable=" + category)
	for l := from - 1; l <= line; l++ {
		if l < 1 || l > len(m.lines) {
			continue
		}
		text := m.lines[l-1]
		if i := bytes.IndexByte(text, '#'); i >= 0 && bytes.Contains(text[i:], mark) {
			return true
		}
	}
	return false
}
