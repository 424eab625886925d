// Package output prints runs for people and tools: Prefect-style log lines
// and one JSON object per event. Both are runtime.Sinks.
package output

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// LogPrinter writes Prefect-style log lines:
//
//	[2020-11-29 10:47:10+0900] INFO - wfsh.TaskRunner | Task 'hello': Starting task run...
//
// Mapped children are logged at debug level; at info level a mapped task
// gets a progress line at most once per ProgressEvery and its first
// failures.
type LogPrinter struct {
	Out   io.Writer
	Level runtime.Level
	// ProgressEvery spaces the progress lines of a mapped task; 0: 1s.
	ProgressEvery time.Duration
	// Clock formats times; nil prints each event's own time.
	Clock func(time.Time) time.Time
	// Flow and Nodes name what the events refer to.
	Graph *runtime.Graph
	// NotTask, without Graph, reports whether node (by name) of run
	// runID is a parameter's or a constant's, whose runs are not counted
	// in "Task runs: ..." (a log read from the store names no nodes by
	// id); nil: every node is a task's.
	NotTask func(runID, node string) bool

	mu sync.Mutex
	// run is what the events said: the states counted at the end, each
	// mapped task's children expected, finished and failed.
	run runtime.Snapshot
	// shown is what the printer did of each mapped task, by node: not
	// state of the run, so not in the snapshot.
	shown  []mapShown
	noNode mapShown // of events that name no node (made by hand)

	// children print the events of child flow runs (subflows), by run
	// id, at every depth, while they run; prefix names a child's task
	// runs ("report/extract").
	children map[string]*LogPrinter
	runID    string
	prefix   string

	buf   []byte
	stamp stamper
}

// stamper formats the times of log lines, keeping the last second's.
type stamper struct {
	stamp string // the formatted time of sec
	sec   int64
	loc   *time.Location
}

// of is t's stamp, after clock if not nil.
func (s *stamper) of(t time.Time, clock func(time.Time) time.Time) string {
	if clock != nil {
		t = clock(t)
	}
	if sec := t.Unix(); sec != s.sec || s.stamp == "" || t.Location() != s.loc {
		s.sec, s.loc, s.stamp = sec, t.Location(), t.Format("2006-01-02 15:04:05-0700")
	}
	return s.stamp
}

type mapShown struct {
	last     time.Time // of the last progress line (or of MapExpanded)
	failures int       // children's failures printed
}

const maxChildFailures = 5

// Emit prints what e says, if its level is high enough.
func (p *LogPrinter) Emit(e runtime.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Parent != "" {
		p.emitChild(e)
		return
	}
	p.emit(e)
}

func (p *LogPrinter) emit(e runtime.Event) {
	p.run.ApplyEvent(&e)
	// Names are escaped whole, before a line is split at a message's
	// newlines: a newline in a name must not start a line of its own.
	// The snapshot knows the task run by its name as it came (raw).
	raw := e.TaskRun
	e.TaskRun = runtime.Printable(e.TaskRun)
	switch e.Kind {
	case runtime.FlowStarted:
		e.Msg = runtime.Printable(e.Msg) // the flow's name
		p.line(e, runtime.Info, "FlowRunner", p.subflow(), fmt.Sprintf("Beginning Flow run for '%s'", e.Msg))
	case runtime.FlowFinished:
		p.flowFinished(e)
	case runtime.TaskLog:
		if e.TaskRun == "" { // the flow run's own log: its hooks'
			p.line(e, e.Level, "FlowRunner", p.subflow(), e.Msg)
			return
		}
		p.line(e, e.Level, e.TaskRun, e.Msg)
	case runtime.MapExpanded:
		p.mapExpanded(e)
	case runtime.TaskState:
		p.taskState(e, raw)
	}
}

// line prints one log line whose message is parts joined, or one line per
// line of it. The task runs' own lines, two per task run, take the first
// path: their parts are appended straight into the line's buffer.
func (p *LogPrinter) line(e runtime.Event, l runtime.Level, logger string, parts ...string) {
	if l < p.Level {
		return
	}
	stamp := p.stamp.of(e.Time, p.Clock)
	for _, part := range parts {
		if strings.IndexByte(part, '\n') >= 0 {
			p.buf = appendLines(p.buf[:0], stamp, l, logger, strings.Join(parts, ""))
			p.Out.Write(p.buf)
			return
		}
	}
	p.buf = appendLine(p.buf[:0], stamp, l, logger, parts...)
	p.Out.Write(p.buf)
}

// appendLine appends one log line whose message is parts joined.
func appendLine(b []byte, stamp string, l runtime.Level, logger string, parts ...string) []byte {
	b = appendPrefix(b, stamp, l, logger)
	for _, part := range parts {
		b = runtime.AppendPrintable(b, part)
	}
	return append(b, '\n')
}

// appendPrefix appends the start of a log line, up to its message.
func appendPrefix(b []byte, stamp string, l runtime.Level, logger string) []byte {
	b = append(b, '[')
	b = append(b, stamp...)
	b = append(b, "] "...)
	b = append(b, l.String()...)
	b = append(b, " - wfsh."...)
	b = runtime.AppendPrintable(b, logger)
	return append(b, " | "...)
}

// appendLines appends a log line for each line of msg, without its final
// newlines.
func appendLines(b []byte, stamp string, l runtime.Level, logger, msg string) []byte {
	msg = strings.TrimRight(msg, "\n")
	for {
		i := strings.IndexByte(msg, '\n')
		if i < 0 {
			return appendLine(b, stamp, l, logger, msg)
		}
		b = appendLine(b, stamp, l, logger, msg[:i])
		msg = msg[i+1:]
	}
}

// taskLogger names the logger of a TaskLog event: its task run, or the
// flow run for the flow's own log (its hooks').
func taskLogger(e *runtime.Event) string {
	if e.TaskRun == "" {
		return "FlowRunner"
	}
	return e.TaskRun
}

// LineFormatter formats the lines of TaskLog events as the LogPrinter it
// was made from prints them, from nothing but the event: several can
// format a run's log lines at once, each on a goroutine of its own,
// while the printer prints the other events in order. (A TaskLog event
// changes nothing the printer prints later.)
type LineFormatter struct {
	level runtime.Level
	clock func(time.Time) time.Time
	stamp stamper
	// prefix is the start of the last line, up to its message, made of
	// pStamp, pLevel and pLogger: consecutive lines mostly share it.
	prefix  []byte
	pStamp  string
	pLevel  runtime.Level
	pLogger string
}

// LineFormatter makes a formatter of p's TaskLog lines.
func (p *LogPrinter) LineFormatter() *LineFormatter {
	return &LineFormatter{level: p.Level, clock: p.Clock}
}

// AppendEntry appends the lines of e to dst and reports true if e is a
// TaskLog event; otherwise it reports false and appends nothing.
func (f *LineFormatter) AppendEntry(dst []byte, e *runtime.Event) ([]byte, bool) {
	if e.Kind != runtime.TaskLog {
		return dst, false
	}
	if e.Level < f.level {
		return dst, true
	}
	stamp, logger := f.stamp.of(e.Time, f.clock), taskLogger(e)
	if !runtime.IsPrintable(e.Msg) { // a newline, or something to escape
		if strings.IndexByte(e.Msg, '\n') >= 0 {
			return appendLines(dst, stamp, e.Level, logger, e.Msg), true
		}
		return appendLine(dst, stamp, e.Level, logger, e.Msg), true
	}
	if stamp != f.pStamp || e.Level != f.pLevel || logger != f.pLogger {
		// e's strings are valid only during the call: a copy is kept.
		f.prefix = appendPrefix(f.prefix[:0], stamp, e.Level, logger)
		f.pStamp, f.pLevel, f.pLogger = stamp, e.Level, strings.Clone(logger)
	}
	dst = append(dst, f.prefix...)
	dst = append(dst, e.Msg...)
	return append(dst, '\n'), true
}

func (p *LogPrinter) kind(e runtime.Event) runtime.NodeKind { return p.kindOf(e.Node) }

func (p *LogPrinter) kindOf(id runtime.NodeID) runtime.NodeKind {
	if p.Graph == nil && p.NotTask != nil && id >= 0 && int(id) < len(p.run.Nodes) &&
		p.NotTask(p.run.RunID, strings.TrimPrefix(p.run.Nodes[id].Name, p.prefix)) {
		return runtime.ParamNode
	}
	if p.Graph == nil || id < 0 || int(id) >= len(p.Graph.Nodes) {
		return runtime.TaskNode
	}
	return p.Graph.Nodes[id].Kind
}

// isTask reports whether node id is a task's (its runs are counted).
func (p *LogPrinter) isTask(id runtime.NodeID) bool { return p.kindOf(id).IsTask() }

func (p *LogPrinter) taskState(e runtime.Event, raw string) {
	level := runtime.Info
	if e.IsChild() || p.kind(e) == runtime.ConstNode {
		level = runtime.Debug
	}
	if e.State == runtime.Waiting {
		return // its log line says so
	}
	if e.State == runtime.Running {
		if level < p.Level {
			return
		}
		if e.Attempt > 1 {
			p.line(e, level, "TaskRunner", fmt.Sprintf("Task '%s': Starting task run (attempt %d)...", e.TaskRun, e.Attempt))
			return
		}
		p.line(e, level, "TaskRunner", "Task '", e.TaskRun, "': Starting task run...")
		return
	}
	p.reason(e, level)
	if level >= p.Level {
		p.line(e, level, "TaskRunner", "Task '", e.TaskRun, "': Finished task run for task with final state: '", e.State.String(), "'")
	}
	if e.IsChild() && e.State.Finished() {
		p.childFinished(e, raw)
	}
}

// reason prints why a run ended as it did: errors at error level (the first
// few for mapped children), skips and trigger failures at debug level.
func (p *LogPrinter) reason(e runtime.Event, level runtime.Level) {
	if e.Msg == "" {
		return
	}
	switch e.State {
	case runtime.Failed, runtime.TimedOut, runtime.Retrying, runtime.Cancelled:
		if e.IsChild() && e.State != runtime.Retrying {
			ms := p.shownOf(e.Node)
			if ms.failures >= maxChildFailures {
				break
			}
			ms.failures++
		}
		if e.State == runtime.Cancelled && level == runtime.Info {
			level = runtime.Warning
		} else if e.State != runtime.Cancelled {
			level = runtime.Error
		}
	default:
		level = runtime.Debug
	}
	if level >= p.Level {
		p.line(e, level, "TaskRunner", fmt.Sprintf("Task '%s': %s", e.TaskRun, e.Msg))
	}
}

// shownOf is what the printer did of node id's children.
func (p *LogPrinter) shownOf(id runtime.NodeID) *mapShown {
	if id < 0 {
		return &p.noNode
	}
	if int(id) >= len(p.shown) {
		p.shown = append(p.shown, make([]mapShown, int(id)+1-len(p.shown))...)
	}
	return &p.shown[id]
}

func (p *LogPrinter) mapExpanded(e runtime.Event) {
	p.shownOf(e.Node).last = e.Time
	p.line(e, runtime.Info, "TaskRunner", fmt.Sprintf("Task '%s': Mapped over %d elements", e.TaskRun, e.Children))
}

// childFinished prints the progress of e's mapped task, at most once per
// ProgressEvery, from the counts the snapshot keeps. raw is e's task run
// as the snapshot knows it, before it was made printable.
func (p *LogPrinter) childFinished(e runtime.Event, raw string) {
	named := e
	named.TaskRun = raw
	id, ok := p.run.NodeOf(&named) // events read back from a store name no node
	if !ok {
		return
	}
	n := &p.run.Nodes[id]
	every := p.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	ms := p.shownOf(e.Node)
	if n.Finished == n.Expected || e.Time.Sub(ms.last) < every {
		return
	}
	ms.last = e.Time
	name := e.NodeRun()
	p.line(e, runtime.Info, "TaskRunner", fmt.Sprintf("Task '%s': %d of %d mapped runs finished (%d failed)", name, n.Finished, n.Expected, n.Failed))
}

func (p *LogPrinter) flowFinished(e runtime.Event) {
	level, verdict := runtime.Info, "SUCCESS: all reference tasks succeeded"
	switch e.State {
	case runtime.Failed:
		level, verdict = runtime.Error, "FAILED: some reference tasks failed."
	case runtime.Cancelled:
		level, verdict = runtime.Warning, "CANCELLED: the run was interrupted"
	}
	if e.State != runtime.Success || p.Level <= runtime.Debug {
		p.line(e, level, "FlowRunner", p.subflow(), "Task runs: "+countsString(p.run.Counts(p.isTask)))
	}
	p.line(e, level, "FlowRunner", p.subflow(), "Flow run "+verdict)
}

// emitChild prints an event of a child flow run with the printer of that
// run, made at its first event: its task runs are named under the
// subflow's task run ("report/extract", "report[2]/extract").
func (p *LogPrinter) emitChild(e runtime.Event) {
	c := p.children[e.RunID]
	if c == nil {
		parent := p
		if pc := p.children[e.Parent]; pc != nil {
			parent = pc
		}
		c = &LogPrinter{Out: p.Out, Level: p.Level, ProgressEvery: p.ProgressEvery, Clock: p.Clock,
			Graph: parent.subGraph(e.ParentTaskRun), NotTask: p.NotTask, runID: e.RunID,
			prefix: parent.prefix + runtime.Printable(e.ParentTaskRun) + "/"}
		if p.children == nil {
			p.children = map[string]*LogPrinter{}
		}
		p.children[e.RunID] = c
	}
	if e.Kind == runtime.FlowFinished {
		delete(p.children, e.RunID)
	}
	e.Parent = "" // the child's own snapshot takes it as its run's
	if e.TaskRun != "" {
		e.TaskRun = c.prefix + e.TaskRun
	}
	if e.NodeName != "" {
		e.NodeName = c.prefix + e.NodeName
	}
	c.emit(e)
}

// subGraph is the child flow of the subflow node whose task run is
// name, if the printer knows its graph.
func (p *LogPrinter) subGraph(name string) *runtime.Graph {
	if p.Graph == nil {
		return nil
	}
	e := runtime.Event{TaskRun: name, MapIndex: -1}
	if i := strings.LastIndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		e.MapIndex = 0
	}
	for _, n := range p.Graph.Nodes {
		if n.Name == e.NodeRun() {
			return n.Sub
		}
	}
	return nil
}

// subflow begins the flow lines of a child flow run: "Subflow 'report':
// ", naming the subflow's task run; "" for the run the printer prints.
func (p *LogPrinter) subflow() string {
	if p.prefix == "" {
		return ""
	}
	return "Subflow '" + strings.TrimSuffix(p.prefix, "/") + "': "
}

func countsString(counts map[runtime.State]int) string {
	var states []runtime.State
	total := 0
	for s, n := range counts {
		states = append(states, s)
		total += n
	}
	sort.Slice(states, func(i, j int) bool { return states[i] < states[j] })
	parts := []string{fmt.Sprintf("%d in all", total)}
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	return strings.Join(parts, ", ")
}
