package store

import (
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// batch is what one transaction writes: one row of table chunks holding
// a record per task run that changed, merged over the batch's events, and
// the log entries that cannot be made again from those records. The
// writer goroutine keeps one batch and reuses it: a run of a hundred
// thousand mapped children would otherwise allocate more for its records
// than it does to run.
//
// What the run's events said so far, across batches, is in run (the
// shared reducer): a child's start time, whether it is still in its first
// attempt's Running. What stays here is what a chunk writes, which is not
// the run's state but what this chunk learnt of it: a record's fields are
// those of this batch's events (a later chunk's record supersedes an
// earlier one field by field when read back), the sequence numbers of
// the events a record stands for, and results until they are encoded.
type batch struct {
	runID  string
	encode func([]byte, runtime.Value) ([]byte, error)
	graph  *runtime.Graph
	run    runtime.Snapshot
	tasks  map[string]*record // runs that are not mapped children, by name
	nodes  []record           // the same, by node, when the graph is known
	order  []*record
	kids   map[string]*children // mapped children, by task (kept across batches)
	korder []*children          // those with children in this batch
	logs   []byte               // JSON array entries, without the brackets
	buf    []byte
	seq    uint64 // the last event's
	flow   *runtime.Event
	base   int64     // the run's start, Unix ns: record times are from it
	stmt   *sql.Stmt // insertChunk, prepared once per store (Store.chunkStmt); nil: not prepared
	z      compressor
	// logLimit bounds the bytes of log lines (TaskLog messages) stored
	// for the run, logBytes counts them (both across batches); past the
	// limit, one marker line says the log was truncated.
	logLimit  int64
	logBytes  int64
	truncated bool
}

// DefaultLogLimit is how many bytes of log lines a run stores, at most:
// the lines after are not stored (wfsh run prints them all the same) and
// one line says so.
const DefaultLogLimit = 256 << 20

// TruncatedMsg is the log line that ends a run's stored log when it
// reached its limit.
func TruncatedMsg(limit int64) string {
	return fmt.Sprintf("log truncated: the run's log reached the store's limit of %d MiB; the lines after this one are not stored (wfsh run printed them)", limit>>20)
}

// children are what a batch writes of one task's mapped children. A
// child's record is written as soon as its final state comes, so that
// a hundred thousand of them cost the batch nothing per child (their
// start times are in the snapshot); one that started and has not
// finished by the end of the batch is written then, as Running.
type children struct {
	task    string
	node    runtime.NodeID // the node of its children's events
	opened  []int32        // children that began their first attempt in this batch
	buf     []byte         // this batch's records, comma-separated
	inBatch bool
}

func newBatch(runID string, base int64, enc func([]byte, runtime.Value) ([]byte, error), g *runtime.Graph) *batch {
	b := &batch{runID: runID, base: base, encode: enc, graph: g, tasks: map[string]*record{}, kids: map[string]*children{}}
	if g != nil {
		b.nodes = make([]record, len(g.Nodes))
		b.run.List(g) // its nodes in one allocation
	}
	return b
}

// reset empties b for the next write.
func (b *batch) reset() {
	clear(b.tasks)
	for i, r := range b.order {
		*r = record{}
		b.order[i] = nil
	}
	b.order = b.order[:0]
	for _, c := range b.korder {
		c.opened, c.buf, c.inBatch = c.opened[:0], c.buf[:0], false
	}
	b.korder = b.korder[:0]
	b.logs, b.seq, b.flow = b.logs[:0], 0, nil
}

func (b *batch) add(e *runtime.Event) {
	b.run.ApplyEvent(e)
	b.seq = max(b.seq, e.Seq)
	switch e.Kind {
	case runtime.TaskState:
		if b.task(e) {
			return // wfsh logs makes its line again from the record
		}
	case runtime.FlowFinished:
		b.flow = e
	case runtime.MapExpanded:
		b.children(taskName(e)).node = e.Node
	case runtime.TaskLog:
		if b.logLimit > 0 && b.logBytes+int64(len(e.Msg)) > b.logLimit {
			if b.truncated {
				return
			}
			b.truncated = true
			m := *e
			m.Level, m.Msg, m.Result = runtime.Warning, TruncatedMsg(b.logLimit), nil
			e = &m
		}
		b.logBytes += int64(len(e.Msg))
	}
	if len(b.logs) > 0 {
		b.logs = append(b.logs, ',')
	}
	b.logs = appendLogEntry(b.logs, e)
}

// task records a state change and reports whether it can be left out of
// the logs: the routine ones of mapped children (in wfsh run they print
// only at debug level), those of const nodes, and the first start and
// the end of every other run, which the record keeps.
func (b *batch) task(e *runtime.Event) (quiet bool) {
	if e.IsChild() {
		b.child(e)
		switch e.State {
		case runtime.Running, runtime.Success, runtime.Pending, runtime.Cached:
			return true
		}
		return false
	}
	var r *record
	if n := b.node(e.Node); n != nil && n.Name == e.TaskRun {
		if r = &b.nodes[n.ID]; r.name == "" {
			*r = record{name: n.Name, task: n.Task, index: -1, kind: kindName(n.Kind), mapped: n.Mapped}
			b.order = append(b.order, r)
		}
	} else if r = b.tasks[e.TaskRun]; r == nil {
		r = &record{name: e.TaskRun, task: e.TaskRun, index: -1, kind: "task"}
		b.tasks[e.TaskRun] = r
		b.order = append(b.order, r)
	}
	r.update(e)
	if r.mapped && (e.State == runtime.Mapped || e.State == runtime.Failed) && e.Result != nil {
		// The list of its children's results: they have it. (A mapped
		// task taken whole from a cache or resumed run, Cached, has no
		// children: its result is stored.)
		r.value, r.note = nil, NoteChildren
	}
	switch {
	case r.kind == "const":
		return true
	case e.State == runtime.Running && e.Attempt <= 1:
		r.startSeq = e.Seq
		return true
	case e.State.Finished():
		r.endSeq = e.Seq
		return true
	}
	return false
}

func (b *batch) node(id runtime.NodeID) *runtime.Node {
	if b.graph == nil || id < 0 || int(id) >= len(b.graph.Nodes) {
		return nil
	}
	return b.graph.Nodes[id]
}

func kindName(k runtime.NodeKind) string {
	switch k {
	case runtime.ParamNode:
		return "param"
	case runtime.ConstNode:
		return "const"
	case runtime.FlowNode:
		return "flow"
	}
	return "task"
}

// children returns the children of task in this batch.
func (b *batch) children(task string) *children {
	c := b.kids[task]
	if c == nil {
		c = &children{task: task}
		b.kids[task] = c
	}
	if !c.inBatch {
		c.inBatch = true
		b.korder = append(b.korder, c)
	}
	return c
}

// child records the state change of a mapped child.
func (b *batch) child(e *runtime.Event) {
	c := b.children(taskName(e))
	c.node = e.Node
	i := e.MapIndex
	if e.State == runtime.Running && e.Attempt <= 1 {
		c.opened = append(c.opened, int32(i))
		return
	}
	r := record{index: i, state: e.State, attempts: e.Attempt, msg: e.Msg, started: b.childRun(c, i).Started, value: e.Result}
	if e.State.Finished() {
		r.finished = e.Time.UnixNano()
	}
	b.appendChild(c, &r)
}

// childRun is what the events said of child i of c's task; a zero run
// for events of no node (made by hand), which the snapshot does not keep.
func (b *batch) childRun(c *children, i int) *runtime.RunSnapshot {
	if c.node < 0 || int(c.node) >= len(b.run.Nodes) || i >= len(b.run.Nodes[c.node].Children) {
		return &noRun
	}
	return &b.run.Nodes[c.node].Children[i]
}

var noRun runtime.RunSnapshot // read only

// open reports whether child i of c, which began its first attempt in
// this batch, has had no record written since: no later event came.
func (b *batch) open(c *children, i int) bool {
	r := b.childRun(c, i)
	return r.State == runtime.Running && r.Attempt <= 1
}

// appendChild writes a child's record into its task's part of the chunk.
func (b *batch) appendChild(c *children, r *record) {
	if len(c.buf) > 0 {
		c.buf = append(c.buf, ',')
	}
	if r.value != nil && b.encode == nil {
		r.note = "results are not stored"
	}
	if r.value != nil && b.encode != nil {
		// The result goes at the end of the record: write the rest after
		// it, then move it into place.
		n := len(c.buf)
		j, err := b.encode(c.buf, r.value)
		if err != nil {
			r.note = err.Error()
			c.buf = r.appendChildJSON(c.buf[:n], b.base)
			return
		}
		res := len(j) - n
		b.buf = append(b.buf[:0], j[n:]...)
		r.result = b.buf[:res]
		c.buf = r.appendChildJSON(j[:n], b.base)
		return
	}
	c.buf = r.appendChildJSON(c.buf, b.base)
}

func (r *record) update(e *runtime.Event) {
	r.state, r.msg = e.State, e.Msg
	r.attempts = max(r.attempts, e.Attempt)
	if e.State == runtime.Running && r.started == 0 {
		r.started = e.Time.UnixNano()
	}
	if e.State.Finished() {
		r.finished = e.Time.UnixNano()
	}
	if e.Result != nil {
		r.value = e.Result
	}
}

// taskName is the task a run belongs to: "sq" for "sq[3]".
func taskName(e *runtime.Event) string { return e.NodeRun() }

const insertChunk = `INSERT INTO chunks (run_id, seq, tasks, children, logs, logs_z) VALUES (?, ?, ?, ?, '', ?)`

// insert inserts the chunk, with the store's prepared statement when
// the batch has one (SQLite's parser is not free: a tenth of a write).
func (b *batch) insert(tx *sql.Tx, args ...any) error {
	var err error
	if b.stmt != nil {
		_, err = tx.Stmt(b.stmt).Exec(args...)
	} else {
		_, err = tx.Exec(insertChunk, args...)
	}
	return err
}

// result encodes a record's value, if it has one and results are kept.
func (b *batch) result(r *record) {
	if r.value == nil {
		return
	}
	if b.encode == nil {
		r.note = "results are not stored"
		return
	}
	n := len(b.buf)
	j, err := b.encode(b.buf, r.value)
	if err != nil {
		r.result, r.note = nil, err.Error()
		b.buf = b.buf[:n]
		return
	}
	b.buf = j
	r.result, r.note = j[n:], ""
}

func (b *batch) flush(tx *sql.Tx) error {
	c, ok := b.chunk()
	if !ok {
		return nil
	}
	if err := b.insert(tx, b.runID, c.Seq, c.Tasks, c.Children, c.LogsZ); err != nil {
		return err
	}
	return finishRun(tx, b.runID, c.Final)
}

// Chunk is one row of table chunks as a batch encodes it: what a
// Recorder writes per transaction, or sends to a server (Write).
type Chunk struct {
	// Seq is the last event's sequence number (the row's key with the
	// run's id).
	Seq int64 `json:"seq"`
	// Tasks, Children and LogsZ are the columns of docs/store.md:
	// JSON text, and the log entries compressed.
	Tasks    string `json:"tasks"`
	Children string `json:"children"`
	LogsZ    []byte `json:"logs_z"`
	// Final is the flow run's end, when the batch holds it.
	Final *Final `json:"final,omitempty"`
}

// Final is how a flow run ended.
type Final struct {
	State runtime.State `json:"state"`
	Msg   string        `json:"msg,omitempty"`
	Time  time.Time     `json:"time"`
}

// finishRun records the end of a run, if f is set.
func finishRun(tx *sql.Tx, runID string, f *Final) error {
	if f == nil {
		return nil
	}
	_, err := tx.Exec(`UPDATE runs SET state = ?, message = ?, finished_at = ? WHERE id = ?`,
		f.State.String(), f.Msg, f.Time.UnixNano(), runID)
	return err
}

// chunk encodes the batch; false when it holds no event.
func (b *batch) chunk() (Chunk, bool) {
	if b.seq == 0 {
		return Chunk{}, false
	}
	for _, c := range b.korder {
		for _, i := range c.opened { // each once: a first attempt begins once
			if b.open(c, int(i)) {
				b.appendChild(c, &record{index: int(i), state: runtime.Running, attempts: 1, started: b.childRun(c, int(i)).Started})
			}
		}
	}
	// Results are encoded into buf, then the columns appended after them.
	n := len(b.order) + len(b.logs)/64
	for _, c := range b.korder {
		n += len(c.buf) / 128
	}
	b.buf = slices.Grow(b.buf[:0], 128*n)
	for _, r := range b.order {
		b.result(r)
	}
	start := len(b.buf)
	b.buf = append(b.buf, '[')
	for i, r := range b.order {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf = r.appendJSON(b.buf, b.base)
	}
	b.buf = append(b.buf, ']')
	tasksEnd := len(b.buf)
	b.buf = append(b.buf, '{')
	for i, c := range b.korder {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf = append(appendJSONString(b.buf, c.task), ':', '[')
		b.buf = append(append(b.buf, c.buf...), ']')
	}
	b.buf = append(b.buf, '}')
	kidsEnd := len(b.buf)
	b.buf = append(append(append(b.buf, '['), b.logs...), ']')
	buf := b.buf
	c := Chunk{Seq: int64(b.seq), Tasks: string(buf[start:tasksEnd]), Children: string(buf[tasksEnd:kidsEnd]), LogsZ: b.z.compress(buf[kidsEnd:])}
	if e := b.flow; e != nil {
		c.Final = &Final{State: e.State, Msg: e.Msg, Time: e.Time}
	}
	return c, true
}
