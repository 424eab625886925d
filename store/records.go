package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/wfsh/wfsh/runtime"
)

// A record is what one write batch learnt of one task run. A later
// record of the same task run supersedes an earlier one field by field
// (merge). Records are written as JSON arrays, by hand: json.Marshal
// would cost more than the write.
//
// A task run that is not a mapped child is
//
//	[name, task, kind, state, attempts, message, started, finished,
//	 start_seq, end_seq, result, result_note]
//
// and a mapped child, listed under its task,
//
//	[index, state, attempts, message, started, finished, result, result_note]
//
// started and finished are microseconds since the run started (its
// started_at), or null: a third of the bytes of Unix nanoseconds, for
// records written by the hundred thousand. start_seq and end_seq are the
// sequence numbers of the run's first Running event and of its final
// state, 0 when unknown: the log lines of those events are not stored,
// wfsh logs makes them again from the record. result is the run's result
// as its encoder gave it (None is null), null when it has none;
// result_note says why a result it had is not stored ("" when it is).
type record struct {
	name, task string
	index      int    // -1 unless a mapped child
	kind       string // "task", "param" or "const" ("" for children)
	state      runtime.State
	attempts   int
	msg        string
	started    int64 // 0: unknown
	finished   int64
	startSeq   uint64
	endSeq     uint64
	result     []byte // JSON, nil: none stored
	note       string
	value      runtime.Value // the result, until the batch encodes it
	mapped     bool          // a mapped task's own run (not written)
	row        *taskRow      // what RunTasks made of it
}

// NoteChildren is the result note of a mapped task's own run: its result,
// the list of its children's results, is not stored twice.
const NoteChildren = "the results of its mapped children"

// merge updates r with what a later record of the same task run says.
func (r *record) merge(later *record) {
	r.state, r.msg = later.state, later.msg
	r.attempts = max(r.attempts, later.attempts)
	if r.started == 0 {
		r.started, r.startSeq = later.started, later.startSeq
	}
	if later.finished != 0 {
		r.finished = later.finished
	}
	if later.endSeq != 0 {
		r.endSeq = later.endSeq
	}
	if later.result != nil || later.note != "" {
		r.result, r.note = later.result, later.note
	}
	if r.kind == "" {
		r.kind = later.kind
	}
}

func (r *record) appendJSON(b []byte, base int64) []byte {
	b = append(b, '[')
	b = appendJSONString(b, r.name)
	b = append(b, ',')
	b = appendJSONString(b, r.task)
	b = append(b, ',')
	b = appendJSONString(b, r.kind)
	b = append(b, ",\""...)
	b = append(b, r.state.String()...)
	b = append(b, "\","...)
	b = strconv.AppendInt(b, int64(r.attempts), 10)
	b = append(b, ',')
	b = appendJSONString(b, r.msg)
	b = appendTime(append(b, ','), r.started, base)
	b = appendTime(append(b, ','), r.finished, base)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.startSeq, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.endSeq, 10)
	return append(r.appendResult(append(b, ',')), ']')
}

func (r *record) appendChildJSON(b []byte, base int64) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(r.index), 10)
	b = append(b, ",\""...)
	b = append(b, r.state.String()...)
	b = append(b, "\","...)
	b = strconv.AppendInt(b, int64(r.attempts), 10)
	b = append(b, ',')
	b = appendJSONString(b, r.msg)
	b = appendTime(append(b, ','), r.started, base)
	b = appendTime(append(b, ','), r.finished, base)
	return append(r.appendResult(append(b, ',')), ']')
}

func (r *record) appendResult(b []byte) []byte {
	if r.result != nil {
		b = append(b, r.result...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	return appendJSONString(b, r.note)
}

// appendTime appends a time in Unix nanoseconds (0: unknown) as
// microseconds since base.
func appendTime(b []byte, t, base int64) []byte {
	if t == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, (t-base)/1000, 10)
}

// readTime reads what appendTime wrote.
func readTime(raw json.RawMessage, base int64) (int64, error) {
	if bytes.Equal(raw, []byte("null")) {
		return 0, nil
	}
	us, err := strconv.ParseInt(string(raw), 10, 64)
	return base + us*1000, err
}

// appendJSONString appends s as a JSON string. Strings that need no
// escaping (names, states, most messages) are copied as they are.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decodeRecord reads a record of a task run that is not a mapped child,
// of a run that started at base.
func decodeRecord(raw json.RawMessage, base int64) (*record, error) {
	var f []json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	if len(f) != 12 {
		return nil, fmt.Errorf("a task run record of %d fields, want 12", len(f))
	}
	r := &record{index: -1}
	var state string
	for i, dst := range []any{&r.name, &r.task, &r.kind, &state, &r.attempts, &r.msg, nil, nil, &r.startSeq, &r.endSeq} {
		if dst == nil {
			continue
		}
		if err := unmarshalField(f[i], dst); err != nil {
			return nil, fmt.Errorf("task run record, field %d: %w", i, err)
		}
	}
	if err := r.times(f[6], f[7], base); err != nil {
		return nil, err
	}
	return r, r.finish(state, f[10], f[11])
}

// decodeChild reads a record of a mapped child of task.
func decodeChild(task string, raw json.RawMessage, base int64) (*record, error) {
	var f []json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	if len(f) != 8 {
		return nil, fmt.Errorf("a mapped task run record of %d fields, want 8", len(f))
	}
	r := &record{task: task}
	var state string
	for i, dst := range []any{&r.index, &state, &r.attempts, &r.msg} {
		if err := unmarshalField(f[i], dst); err != nil {
			return nil, fmt.Errorf("mapped task run record, field %d: %w", i, err)
		}
	}
	if err := r.times(f[4], f[5], base); err != nil {
		return nil, err
	}
	r.name = task + "[" + strconv.Itoa(r.index) + "]"
	return r, r.finish(state, f[6], f[7])
}

func (r *record) times(started, finished json.RawMessage, base int64) error {
	var err1, err2 error
	r.started, err1 = readTime(started, base)
	r.finished, err2 = readTime(finished, base)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("task run record: %w", err)
	}
	return nil
}

func (r *record) finish(state string, result, note json.RawMessage) error {
	if err := r.state.UnmarshalText([]byte(state)); err != nil {
		return err
	}
	if !bytes.Equal(result, []byte("null")) {
		r.result = result
	}
	return unmarshalField(note, &r.note)
}

// unmarshalField decodes one field; null leaves dst as it is.
func unmarshalField(raw json.RawMessage, dst any) error {
	if bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return json.Unmarshal(raw, dst)
}

// A logEntry is an event of the run's log, as
//
//	[seq, time, kind, task_run, map_index, attempt, state, level, msg, children]
func appendLogEntry(b []byte, e *runtime.Event) []byte {
	b = append(b, '[')
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, e.Time.UnixNano(), 10)
	b = append(b, ",\""...)
	b = append(b, e.Kind.String()...)
	b = append(b, "\","...)
	b = appendJSONString(b, e.TaskRun)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(e.MapIndex), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(e.Attempt), 10)
	b = append(b, ",\""...)
	b = append(b, stateName(e)...)
	b = append(b, "\",\""...)
	b = append(b, levelName(e)...)
	b = append(b, "\","...)
	b = appendJSONString(b, e.Msg)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(e.Children), 10)
	return append(b, ']')
}

func stateName(e *runtime.Event) string {
	if e.Kind == runtime.TaskState || e.Kind == runtime.FlowFinished {
		return e.State.String()
	}
	return ""
}

func levelName(e *runtime.Event) string {
	if e.Kind == runtime.TaskLog {
		return e.Level.String()
	}
	return ""
}

func decodeLogEntry(raw json.RawMessage) (runtime.Event, error) {
	e := runtime.Event{Node: runtime.NoNode}
	var f []json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return e, err
	}
	if len(f) != 10 {
		return e, fmt.Errorf("a log entry of %d fields, want 10", len(f))
	}
	var t int64
	var kind, state, level string
	for i, dst := range []any{&e.Seq, &t, &kind, &e.TaskRun, &e.MapIndex, &e.Attempt, &state, &level, &e.Msg, &e.Children} {
		if err := unmarshalField(f[i], dst); err != nil {
			return e, fmt.Errorf("log entry, field %d: %w", i, err)
		}
	}
	e.Time = unixNano(t)
	k, err := parseKind(kind)
	if err != nil {
		return e, err
	}
	e.Kind = k
	if state != "" {
		if err := e.State.UnmarshalText([]byte(state)); err != nil {
			return e, err
		}
	}
	if level != "" {
		if e.Level, err = runtime.ParseLevel(level); err != nil {
			return e, err
		}
	}
	return e, nil
}

func parseKind(s string) (runtime.Kind, error) {
	for k := runtime.FlowStarted; k <= runtime.MapExpanded; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown event kind %q", s)
}
