// Package tui is the live view of a flow run: a header with the flow, run
// id, state, elapsed time and counts by state; the task list with state
// colours, durations, retries and a progress bar per mapped task; and the
// log of the selected task run.
//
// It consumes the executor's events like every other consumer of a run: a
// Feed is a runtime.Sink that queues them and hands them over in one batch
// per frame. The view draws only the rows that fit on the screen, so it
// stays fluid with 100,000 task runs.
//
// Model is the run pane, a component that another bubbletea program can
// embed (the REPL shows runs with it); App is the full-screen program of
// `wfsh run --tui`, which adds quitting, and asks first while the run is
// still going.
package tui

import (
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/wfsh/wfsh/runtime"
)

// Options configure a Model.
type Options struct {
	// Graph lists the run's tasks before they start; nil: a task's row
	// appears with its first event.
	Graph *runtime.Graph
	// Feed brings the run's events; nil: the embedding program calls Apply.
	Feed *Feed
	// Flow and RunID name the run until its first event does.
	Flow, RunID string
	// Now is the clock for what is still running; nil: time.Now.
	Now func() time.Time
}

type phase uint8

const (
	waiting phase = iota // no event yet
	running
	finished
)

// nodeRow is how the view shows one node of the graph. The state of its
// runs (its own and its mapped children's) is in the Model's Snapshot,
// under the same id: a row keeps only what the view adds.
type nodeRow struct {
	name     string // printable
	kind     runtime.NodeKind
	retries  int
	mapped   bool
	known    bool // listed
	expanded bool
	shown    int // child failures copied to this row's log
}

// ref names a row: a node's own run (child < 0) or one of its mapped
// children; sub is nil for the pane's own run, or the pane of the child
// flow run (a subflow's) whose row it is.
type ref struct {
	node, child int32
	sub         *Model
}

func (r ref) parent() ref { return ref{node: r.node, child: -1, sub: r.sub} }

// local is r within its own pane.
func (r ref) local() ref { return ref{node: r.node, child: r.child} }

const numStates = int(runtime.Waiting) + 1

// Model is the run pane: header, task list and log pane of one flow run.
// Feed it events (through Options.Feed, or Apply), send it key presses
// with Update, give it a size with SetSize, and draw it with View.
type Model struct {
	opt  Options
	st   *styles
	keys KeyMap

	flow, runID string
	phase       phase
	applied     uint64 // Seq of the last event applied

	// run is the state of the run, folded from its events: the flow's,
	// every task run's, the counts by state. The view draws from it.
	run    runtime.Snapshot
	nodes  []nodeRow // by node id, as run.Nodes
	order  []int32   // the listed nodes, in build order
	logs   map[ref]*logBuf
	active ref // the run that started last, for follow
	mapped int // listed mapped nodes

	width, height int
	filter        filterKind
	follow        bool
	sel           ref
	cursor        int // index of sel in vis
	offset        int // first row of vis on screen
	vis           []ref
	visDirty      bool
	logScroll     int // lines scrolled back from the log's end

	// Child flow runs (subflow.go): subs are the panes of this run's
	// subflow runs, by the subflow's row; byRun, in the top pane only,
	// every pane below it by run id. A child pane knows its parent's
	// pane and row, how far its rows are indented, the prefix of its task runs' names,
	// and whether its rows are listed under its subflow's (open).
	subs   map[ref]*Model
	byRun  map[string]*Model
	up     *Model
	upRef  ref
	indent int
	prefix string
	open   bool
}

// New returns the pane of one run. With a Graph, every task is listed as
// Pending before the run starts.
func New(opt Options) *Model {
	m := &Model{
		opt: opt, st: newStyles(), keys: DefaultKeyMap(),
		flow: runtime.Printable(opt.Flow), runID: opt.RunID,
		logs: map[ref]*logBuf{}, follow: true, visDirty: true,
		sel: ref{node: -1, child: -1}, active: ref{node: -1, child: -1},
	}
	if g := opt.Graph; g != nil {
		if m.flow == "" {
			m.flow = runtime.Printable(g.Flow)
		}
		m.run.List(g)
		m.nodes = make([]nodeRow, len(g.Nodes))
		for _, n := range g.Nodes {
			r := &m.nodes[n.ID]
			r.kind = n.Kind
			if n.Kind == runtime.ConstNode {
				continue // an internal value, not a task the user wrote
			}
			r.name, r.retries, r.mapped = runtime.Printable(n.Name), n.Retries, n.Mapped
			m.list(int32(n.ID), r)
		}
	}
	return m
}

// list adds node id to the listed rows, in build order.
func (m *Model) list(id int32, r *nodeRow) {
	r.known = true
	i := sort.Search(len(m.order), func(i int) bool { return m.order[i] >= id })
	m.order = append(m.order, 0)
	copy(m.order[i+1:], m.order[i:])
	m.order[i] = id
	if r.mapped {
		m.mapped++
	}
	m.visDirty = true
}

// Init starts reading the Feed and the clock.
func (m *Model) Init() tea.Cmd {
	var cmds []tea.Cmd
	if m.opt.Feed != nil {
		cmds = append(cmds, m.opt.Feed.Next())
	}
	cmds = append(cmds, m.tick())
	return tea.Batch(cmds...)
}

// tickMsg redraws elapsed times while the run goes on.
type tickMsg struct{ m *Model }

const tickEvery = 100 * time.Millisecond

func (m *Model) tick() tea.Cmd {
	return tea.Tick(tickEvery, func(time.Time) tea.Msg { return tickMsg{m} })
}

// Update applies events from the Model's Feed, key presses and the clock,
// and returns what to wait for next. Messages for other models are
// ignored, so several Models can live in one program. The program that
// owns the pane gives it its size (SetSize) and decides which key presses
// reach it.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case EventsMsg:
		if msg.feed != m.opt.Feed || msg.feed == nil {
			return nil
		}
		m.Apply(msg.Events)
		if msg.Closed {
			return nil
		}
		return m.opt.Feed.Next()
	case tickMsg:
		if msg.m != m || m.phase == finished {
			return nil
		}
		return m.tick()
	case tea.KeyPressMsg:
		m.key(msg)
	}
	return nil
}

// SetSize sets the pane's size in cells.
func (m *Model) SetSize(width, height int) {
	m.width, m.height = max(width, 0), max(height, 0)
	m.refresh()
}

// Apply feeds events to the pane, oldest first (an embedding program that
// has no Feed calls it directly).
func (m *Model) Apply(events []runtime.Event) {
	for i := range events {
		m.apply(&events[i])
	}
	m.refresh()
}

// apply folds e into the run's snapshot, then does what the view adds:
// rows listed, the run to follow, lines for the log pane.
func (m *Model) apply(e *runtime.Event) {
	if e.Parent != "" {
		m.applyChild(e)
		return
	}
	m.applied = e.Seq
	kids, failed := m.children(e.Node)
	m.run.ApplyEvent(e)
	switch e.Kind {
	case runtime.FlowStarted:
		m.phase = running
		if e.Msg != "" {
			m.flow = runtime.Printable(e.Msg)
		}
		if e.RunID != "" {
			m.runID = e.RunID
		}
	case runtime.FlowFinished:
		m.phase = finished
	case runtime.TaskState:
		m.taskState(e, kids, failed)
	case runtime.TaskLog:
		m.taskLog(e)
	case runtime.MapExpanded:
		m.mapExpanded(e, kids)
	}
}

// children are how many children node id has, and how many of them
// failed.
func (m *Model) children(id runtime.NodeID) (kids, failed int) {
	if id < 0 || int(id) >= len(m.run.Nodes) {
		return 0, 0
	}
	n := &m.run.Nodes[id]
	return len(n.Children), n.Failed
}

// node returns the row of e's node, listing it at its first event when
// the Model has no Graph; nil for a constant of the graph, which is not
// listed.
func (m *Model) node(e *runtime.Event) *nodeRow {
	id := int32(e.Node)
	if int(id) >= len(m.nodes) {
		m.nodes = append(m.nodes, make([]nodeRow, int(id)+1-len(m.nodes))...)
	}
	r := &m.nodes[id]
	if !r.known {
		if r.kind == runtime.ConstNode {
			return nil
		}
		r.name = runtime.Printable(e.NodeRun())
		r.mapped = e.MapIndex >= 0
		m.list(id, r)
	}
	return r
}

func (m *Model) taskState(e *runtime.Event, kids, failed int) {
	if e.Node == runtime.NoNode {
		return
	}
	n := m.node(e)
	if n == nil {
		return
	}
	id := int32(e.Node)
	if m.filter != filterAll {
		m.visDirty = true
	}
	run := ref{node: id, child: -1}
	if e.MapIndex >= 0 {
		run.child = int32(e.MapIndex)
		m.grew(id, n, kids) // events without their MapExpanded
	}
	switch {
	case e.State == runtime.Running || e.State == runtime.Waiting:
		m.active = run
	case e.State == runtime.Retrying && e.Msg != "":
		m.logTo(run, e, runtime.Warning, e.Msg)
	}
	if e.MapIndex >= 0 && m.run.Nodes[id].Failed > failed {
		m.childFailed(id, n, e)
	}
}

// maxChildFailures is how many failed children a mapped task's log lists.
const maxChildFailures = 20

// childFailed lists a failed child in its mapped task's log, the first
// few of them.
func (m *Model) childFailed(id int32, n *nodeRow, e *runtime.Event) {
	if n.shown > maxChildFailures {
		return
	}
	n.shown++
	if n.shown > maxChildFailures {
		m.logTo(ref{node: id, child: -1}, e, runtime.Error, "more mapped runs failed: press s until the filter shows failed runs to list them all")
		return
	}
	msg := runtime.Printable(e.TaskRun) + " " + e.State.String()
	if e.Msg != "" {
		msg += ": " + firstLine(e.Msg)
	}
	m.logTo(ref{node: id, child: -1}, e, runtime.Error, msg)
}

// grew redraws the list when n had kids children before the event and
// has more now, if they show.
func (m *Model) grew(id int32, n *nodeRow, kids int) {
	if len(m.run.Nodes[id].Children) > kids && (n.expanded || m.filter != filterAll) {
		m.visDirty = true
	}
}

// mapExpanded lists a mapped task's children (the snapshot shows its own
// run Running from here).
func (m *Model) mapExpanded(e *runtime.Event, kids int) {
	n := m.node(e)
	if n == nil {
		return
	}
	n.mapped = true
	m.grew(int32(e.Node), n, kids)
	if m.filter != filterAll {
		m.visDirty = true
	}
	m.logTo(ref{node: int32(e.Node), child: -1}, e, runtime.Info, "mapped over "+groupDigits(e.Children)+" elements")
}

func (m *Model) taskLog(e *runtime.Event) {
	if e.Node == runtime.NoNode {
		m.logTo(ref{node: -1, child: -1}, e, e.Level, e.Msg)
		return
	}
	if m.node(e) != nil {
		m.logTo(ref{node: int32(e.Node), child: int32(e.MapIndex)}, e, e.Level, e.Msg)
	}
}

// Done reports whether the run has finished, and its final state.
func (m *Model) Done() (runtime.State, bool) {
	if m.phase != finished {
		return runtime.Pending, false
	}
	return m.run.State, true
}

// Started reports whether the run has begun.
func (m *Model) Started() bool { return m.phase != waiting }

// RunID is the run's id.
func (m *Model) RunID() string { return m.runID }

// Count returns how many task runs are in state st.
func (m *Model) Count(st runtime.State) int {
	if int(st) >= numStates {
		return 0
	}
	return m.run.ByState[st]
}

// Total returns how many task runs the pane knows of, mapped children
// included.
func (m *Model) Total() int { return m.run.Total }

// Elapsed is the run's wall time so far, or in all once it finished.
func (m *Model) Elapsed() time.Duration {
	switch m.phase {
	case waiting:
		return 0
	case finished:
		return m.run.Ended.Sub(m.run.Started)
	}
	return m.now().Sub(m.run.Started)
}

func (m *Model) now() time.Time {
	if m.opt.Now != nil {
		return m.opt.Now()
	}
	return time.Now()
}

// Summary is one line on a finished run, for the terminal once the view
// is gone: "Flow run 'etl' (ID): Failed after 1.2s; 5 task runs: 4
// Success, 1 Failed".
func Summary(g *runtime.Graph, res *runtime.Result, elapsed time.Duration) string {
	var counts [numStates]int
	total := 0
	var add func(t *runtime.TaskResult)
	add = func(t *runtime.TaskResult) {
		if int(t.State) < numStates {
			counts[t.State]++
			total++
		}
		for i := range t.Children {
			add(&t.Children[i])
		}
	}
	for i := range res.Tasks {
		if i < len(g.Nodes) && g.Nodes[i].Kind.IsTask() {
			add(&res.Tasks[i])
		}
	}
	return "Flow run '" + g.Flow + "' (" + res.RunID + "): " + res.State.String() +
		" after " + formatDuration(elapsed) + "; " + countsText(&counts, total)
}

// countsText is "5 task runs: 3 Success, 2 Pending".
func countsText(counts *[numStates]int, total int) string {
	var b strings.Builder
	b.WriteString(groupDigits(total))
	if total == 1 {
		b.WriteString(" task run")
	} else {
		b.WriteString(" task runs")
	}
	sep := ": "
	for st := range numStates {
		if n := counts[st]; n > 0 {
			b.WriteString(sep + groupDigits(n) + " " + runtime.State(st).String())
			sep = ", "
		}
	}
	return b.String()
}
