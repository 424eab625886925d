package runtime

import "time"

// emit stamps e with the next sequence number and the time and hands it to
// the sink, masking secrets in its message.
func (x *executor) emit(e Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	e.Seq = x.seq
	e.Time = time.Now()
	e.RunID = x.opt.RunID
	if p := x.opt.Parent; p.RunID != "" {
		e.Parent, e.ParentTaskRun, e.Flow = p.RunID, p.TaskRun, x.g.Flow
	}
	if x.opt.Redactor != nil {
		e.Msg = x.opt.Redactor.Redact(e.Msg)
	}
	x.opt.Sink.Emit(e)
}

func (x *executor) emitState(r *run, st State, msg string, v Value) {
	r.state = st
	x.emit(Event{Kind: TaskState, Node: r.node.ID, NodeName: r.node.Name, TaskRun: r.name, MapIndex: r.index,
		Attempt: r.attempt, State: st, Msg: msg, Result: v})
}

// emitLog sends a line of c's task run's log, or of the flow run's when c
// has no node.
func (x *executor) emitLog(c *Call, l Level, msg string) {
	e := Event{Kind: TaskLog, Node: NoNode, TaskRun: c.TaskRun, MapIndex: c.MapIndex, Attempt: c.Attempt, Level: l, Msg: msg}
	if c.Node != nil {
		e.Node, e.NodeName = c.Node.ID, c.Node.Name
	}
	x.emit(e)
}
