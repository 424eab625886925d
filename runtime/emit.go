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

func (x *executor) emitLog(r *run, l Level, msg string) {
	x.emit(Event{Kind: TaskLog, Node: r.node.ID, NodeName: r.node.Name, TaskRun: r.name, MapIndex: r.index,
		Attempt: r.attempt, Level: l, Msg: msg})
}
