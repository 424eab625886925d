package store

import (
	"strconv"
)

// The children column of a chunk, {"task": [[index, "state", attempts,
// "msg", started, finished, result, "note"], ...], ...}, holds most of
// W2's task runs: read by encoding/json it cost most of a refresh of a
// run's page. childScanner reads it as appendChildJSON writes it, by
// hand; a record it does not read plainly (a string with escapes) is
// read by decodeChild, and a column it cannot read at all by
// decodeChildren's encoding/json.

// childScanner walks a children column.
type childScanner struct {
	b    []byte
	i    int
	base int64
}

// decodeChildrenFast reads a children column; ok is false when the
// column is not shaped as appendChildJSON writes it (nothing is added
// then).
func decodeChildrenFast(js string, base int64, add func(*record)) (ok bool, err error) {
	s := &childScanner{b: []byte(js), base: base}
	var out []*record
	if !s.byte('{') {
		return false, nil
	}
	for !s.byte('}') {
		if s.i > 1 && !s.byte(',') { // not the first task
			return false, nil
		}
		task, ok := s.plainString()
		if !ok || !s.byte(':') || !s.byte('[') {
			return false, nil
		}
		for first := true; !s.byte(']'); first = false {
			if !first && !s.byte(',') {
				return false, nil
			}
			start := s.i
			r, ok := s.child(task)
			if !ok { // read it slowly
				end, ok := skipValue(s.b, start)
				if !ok {
					return false, nil
				}
				if r, err = decodeChild(task, s.b[start:end], base); err != nil {
					return false, err
				}
				s.i = end
			}
			out = append(out, r)
		}
	}
	if s.i != len(s.b) {
		return false, nil
	}
	for _, r := range out {
		add(r)
	}
	return true, nil
}

// child reads one record plainly.
func (s *childScanner) child(task string) (*record, bool) {
	r := &record{task: task}
	var state string
	var ok [9]bool
	var at0, at1 int64
	if !s.byte('[') {
		return nil, false
	}
	r.index, ok[0] = s.int()
	ok[1] = s.byte(',')
	state, ok[2] = s.plainString()
	ok[3] = s.byte(',')
	r.attempts, ok[4] = s.int()
	ok[5] = s.byte(',')
	r.msg, ok[6] = s.plainString()
	ok[7] = s.byte(',')
	at0, ok[8] = s.time()
	for _, v := range ok {
		if !v {
			return nil, false
		}
	}
	if !s.byte(',') {
		return nil, false
	}
	at1, okT := s.time()
	if !okT || !s.byte(',') || !s.resultAndNote(r) {
		return nil, false
	}
	if r.state.UnmarshalText([]byte(state)) != nil {
		return nil, false
	}
	r.started, r.finished = at0, at1
	r.name = task + "[" + strconv.Itoa(r.index) + "]"
	return r, true
}

// resultAndNote reads the end of a record, which both kinds share: its
// result (any JSON value, kept as it is written; null for none), its note
// and the closing bracket.
func (s *childScanner) resultAndNote(r *record) bool {
	start := s.i
	end, ok := skipValue(s.b, start)
	if !ok {
		return false
	}
	s.i = end
	if string(s.b[start:end]) != "null" {
		r.result = s.b[start:end:end]
	}
	if !s.byte(',') {
		return false
	}
	r.note, ok = s.plainString()
	return ok && s.byte(']')
}

// byte takes c if it comes next.
func (s *childScanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// int reads an integer.
func (s *childScanner) int() (int, bool) {
	n, ok := s.int64()
	return int(n), ok
}

func (s *childScanner) int64() (int64, bool) {
	start := s.i // before the sign: in one assignment s.i may be read after byte moved it
	neg := s.byte('-')
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && s.i-start < 19 {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	if s.i == start+boolInt(neg) {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// time reads what appendTime wrote: null, or microseconds since base.
func (s *childScanner) time() (int64, bool) {
	if s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return 0, true
	}
	us, ok := s.int64()
	return s.base + us*1000, ok
}

// plainString reads a string without escapes or bytes past ASCII (as
// appendJSONString copies them).
func (s *childScanner) plainString() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return string(s.b[start : s.i-1]), true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// skipValue is the end of the JSON value at b[i:]: a string, an array
// or object (strings in them may hold brackets), or a literal or number
// up to the next ',', ']' or '}'.
func skipValue(b []byte, i int) (int, bool) {
	depth, start := 0, i
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return 0, false
			}
			if depth == 0 {
				return i + 1, true
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return i, i > start
			}
			if depth--; depth == 0 {
				return i + 1, true
			}
		case ',':
			if depth == 0 {
				return i, i > start
			}
		}
	}
	return i, depth == 0 && i > start
}

// decodeTasksFast reads a chunk's tasks column, [[name, task, kind,
// state, attempts, msg, started, finished, start_seq, end_seq, result,
// note], ...], as appendJSON writes it, by hand, as decodeChildrenFast
// does the children column (a run's page opened on W3 decoded its 10,000
// records with encoding/json: half of the event stream's start). ok is
// false when a record is not written plainly (a string with escapes or
// bytes past ASCII): nothing is added then, and encoding/json reads the
// column.
func decodeTasksFast(js string, base int64, add func(*record)) (ok bool) {
	s := &childScanner{b: []byte(js), base: base}
	var out []*record
	if !s.byte('[') {
		return false
	}
	for first := true; !s.byte(']'); first = false {
		if !first && !s.byte(',') {
			return false
		}
		r, ok := s.task()
		if !ok {
			return false
		}
		out = append(out, r)
	}
	if s.i != len(s.b) {
		return false
	}
	for _, r := range out {
		add(r)
	}
	return true
}

// task reads one record of a task run that is not a mapped child.
func (s *childScanner) task() (*record, bool) {
	r := &record{index: -1}
	var state string
	var startSeq, endSeq int64
	ok := s.byte('[')
	str := func(dst *string) {
		if ok {
			*dst, ok = s.plainString()
			ok = ok && s.byte(',')
		}
	}
	num := func(dst *int64) {
		if ok {
			*dst, ok = s.int64()
			ok = ok && s.byte(',')
		}
	}
	at := func(dst *int64) {
		if ok {
			*dst, ok = s.time()
			ok = ok && s.byte(',')
		}
	}
	var attempts int64
	str(&r.name)
	str(&r.task)
	str(&r.kind)
	str(&state)
	num(&attempts)
	str(&r.msg)
	at(&r.started)
	at(&r.finished)
	num(&startSeq)
	num(&endSeq)
	if !ok || startSeq < 0 || endSeq < 0 || !s.resultAndNote(r) {
		return nil, false
	}
	if r.state.UnmarshalText([]byte(state)) != nil {
		return nil, false
	}
	r.attempts, r.startSeq, r.endSeq = int(attempts), uint64(startSeq), uint64(endSeq)
	return r, true
}
