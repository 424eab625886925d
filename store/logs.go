package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/wfsh/wfsh/runtime"
)

// A chunk's log entries are stored compressed (column logs_z, raw
// DEFLATE of the JSON array), since version 3; the chunks of older
// versions keep theirs as JSON text in column logs.

// compressor deflates the log entries of a batch; the writer goroutine
// keeps one and reuses it (a flate.Writer costs about 1 MB to make).
type compressor struct {
	out []byte
}

// deflater is a DEFLATE writer with its output buffer.
type deflater struct {
	w   *flate.Writer
	buf bytes.Buffer
}

// deflaters are the DEFLATE writers of every compressor: one writer holds
// about 1 MB, which a thousand runs recording at once would each keep.
// BestSpeed: log lines compress well even so (a tenth of their size, or
// less), at a fraction of the CPU of the default level.
var deflaters = sync.Pool{New: func() any {
	d := &deflater{}
	d.w, _ = flate.NewWriter(&d.buf, flate.BestSpeed)
	return d
}}

// compress returns the DEFLATE of b, valid until the next call.
func (c *compressor) compress(b []byte) []byte {
	d := deflaters.Get().(*deflater)
	d.buf.Reset()
	d.w.Reset(&d.buf)
	d.w.Write(b)
	d.w.Close()
	c.out = append(c.out[:0], d.buf.Bytes()...)
	deflaters.Put(d)
	return c.out
}

// inflater reads compressed log entries, reusing its buffers.
type inflater struct {
	r   io.ReadCloser
	src bytes.Reader
	out bytes.Buffer
}

func (f *inflater) inflate(z []byte) ([]byte, error) {
	f.src.Reset(z)
	if f.r == nil {
		f.r = flate.NewReader(&f.src)
	} else if err := f.r.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, err
	}
	f.out.Reset()
	if _, err := f.out.ReadFrom(f.r); err != nil {
		return nil, err
	}
	return f.out.Bytes(), nil
}

// eachLogEntry calls fn with the log entries of the chunks of a run whose
// seq is at least from and at most to (0: no bound), in the order of their
// sequence numbers.
//
// Inflating and decoding a chunk is most of the work of printing a log
// back (wfsh logs), so chunks are decoded on every core at once and
// handed to fn in order: one goroutine reads the rows, decoders take the
// chunks as they come, and this goroutine waits for each chunk's entries
// in turn. At most a few chunks per core are in memory at a time,
// whatever the size of the log.
func eachLogEntry(ctx context.Context, q querier, runID string, from, to uint64, fn func(*runtime.Event) error) error {
	query := `SELECT seq, logs, logs_z FROM chunks WHERE run_id = ? AND seq >= ?`
	args := []any{runID, int64(from)}
	if to > 0 {
		query += ` AND seq <= ?`
		args = append(args, int64(to))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := q.QueryContext(ctx, query+` ORDER BY seq`, args...)
	if err != nil {
		return err
	}
	workers := min(goruntime.GOMAXPROCS(0), 4)
	jobs := make(chan *logChunk)
	order := make(chan *logChunk, workers)
	var wg sync.WaitGroup
	wg.Add(1 + workers)
	read := make(chan error, 1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(jobs)
		read <- readLogChunks(ctx, rows, jobs, order)
	}()
	for range workers {
		go func() {
			defer wg.Done()
			var inf inflater
			for c := range jobs {
				c.decode(&inf, runID)
				close(c.done)
			}
		}()
	}
	err = deliverLogChunks(ctx, order, runID, fn)
	cancel()
	for range order { // let the reader end
	}
	wg.Wait()
	if rerr := <-read; err == nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	return err
}

// logChunk is one chunk's log entries on their way from the database to
// fn: the stored bytes, then the decoded entries once done is closed.
type logChunk struct {
	seq     int64
	text, z []byte
	entries []runtime.Event
	err     error
	done    chan struct{}
}

// readLogChunks sends each row to the decoders and, in the same order, to
// the goroutine that calls fn, until the rows end or ctx does.
func readLogChunks(ctx context.Context, rows *sql.Rows, jobs, order chan<- *logChunk) error {
	defer rows.Close()
	for rows.Next() {
		c := &logChunk{done: make(chan struct{})}
		var text, z sql.RawBytes
		if err := rows.Scan(&c.seq, &text, &z); err != nil {
			return err
		}
		// The row's bytes are valid until the next row: copy them.
		c.text, c.z = bytes.Clone(text), bytes.Clone(z)
		for _, ch := range []chan<- *logChunk{order, jobs} {
			select {
			case ch <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return rows.Err()
}

// decode inflates and decodes the chunk's entries, sorted by seq.
func (c *logChunk) decode(inf *inflater, runID string) {
	js := c.text
	if c.z != nil {
		if js, c.err = inf.inflate(c.z); c.err != nil {
			c.err = fmt.Errorf("run %s, chunk %d: %w", runID, c.seq, c.err)
			return
		}
	}
	// One allocation for the chunk's entries: each entry but the last is
	// followed by "],[" (a message holding it only makes room for more).
	buf := entryBufs.Get().(*[]runtime.Event)
	if c.entries = *buf; cap(c.entries) == 0 {
		c.entries = make([]runtime.Event, 0, bytes.Count(js, []byte("],["))+1)
	}
	if c.entries, c.err = appendLogEntries(c.entries, js); c.err != nil {
		c.err = fmt.Errorf("run %s, chunk %d: %w", runID, c.seq, c.err)
		return
	}
	// Entries are written in the order of their events; sorting costs
	// little when they are, and keeps older stores right.
	slices.SortStableFunc(c.entries, func(a, b runtime.Event) int { return cmpSeq(a.Seq, b.Seq) })
	c.text, c.z = nil, nil
}

// entryBufs keeps the entry slices of delivered chunks for the next ones.
var entryBufs = sync.Pool{New: func() any { return new([]runtime.Event) }}

// release gives the chunk's entries back to entryBufs, keeping none of
// their messages alive.
func (c *logChunk) release() {
	clear(c.entries)
	buf := c.entries[:0]
	entryBufs.Put(&buf)
	c.entries = nil
}

// deliverLogChunks calls fn with each chunk's entries in the order the
// chunks were read.
func deliverLogChunks(ctx context.Context, order <-chan *logChunk, runID string, fn func(*runtime.Event) error) error {
	for c := range order {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.err != nil {
			return c.err
		}
		for i := range c.entries {
			c.entries[i].RunID = runID
			if err := fn(&c.entries[i]); err != nil {
				return err
			}
		}
		c.release()
	}
	return nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// appendLogEntries decodes a JSON array of log entries, as appendLogEntry
// writes them, onto evs. The entries written by this package take a fast
// path; anything else (spaces, a number written otherwise) goes through
// encoding/json.
func appendLogEntries(evs []runtime.Event, js []byte) ([]runtime.Event, error) {
	n := len(evs)
	p := entryParser{b: js}
	if err := p.entries(func(e runtime.Event) { evs = append(evs, e) }); err == nil {
		return evs, nil
	}
	evs = evs[:n]
	var raws []json.RawMessage
	if err := json.Unmarshal(js, &raws); err != nil {
		return evs, err
	}
	for _, raw := range raws {
		e, err := decodeLogEntry(raw)
		if err != nil {
			return evs, err
		}
		evs = append(evs, e)
	}
	return evs, nil
}

var errSyntax = errors.New("log entry: unexpected input")

// entryParser reads [[seq, time, "kind", "task_run", map_index, attempt,
// "state", "level", "msg", children], ...] with no spaces.
type entryParser struct {
	b []byte
	i int
	// s is b as a string, made once: the messages without escapes are
	// its substrings, one allocation per chunk instead of one per entry.
	s string
	// The last kind, state and level names seen, and their values:
	// consecutive entries mostly repeat them.
	kind, state, level []byte
	kindV              runtime.Kind
	stateV             runtime.State
	levelV             runtime.Level
}

var (
	kindByName  = map[string]runtime.Kind{}
	stateByName = map[string]runtime.State{}
	levelByName = map[string]runtime.Level{}
)

func init() {
	for k := runtime.FlowStarted; k <= runtime.MapExpanded; k++ {
		kindByName[k.String()] = k
	}
	for s := runtime.Pending; s <= runtime.Crashed; s++ {
		stateByName[s.String()] = s
	}
	for _, name := range []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"} {
		if l, err := runtime.ParseLevel(name); err == nil {
			levelByName[l.String()] = l
		}
	}
}

func (p *entryParser) byte(c byte) error {
	if p.i >= len(p.b) || p.b[p.i] != c {
		return errSyntax
	}
	p.i++
	return nil
}

func (p *entryParser) entries(add func(runtime.Event)) error {
	if err := p.byte('['); err != nil {
		return err
	}
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return p.end()
	}
	for {
		e, err := p.entry()
		if err != nil {
			return err
		}
		add(e)
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		if err := p.byte(']'); err != nil {
			return err
		}
		return p.end()
	}
}

func (p *entryParser) end() error {
	if p.i != len(p.b) {
		return errSyntax
	}
	return nil
}

func (p *entryParser) entry() (runtime.Event, error) {
	e := runtime.Event{Node: runtime.NoNode}
	var seq, t, mi, att, ch int64
	var kind, state, level []byte
	err := p.byte('[')
	next := func() {
		if err == nil {
			err = p.byte(',')
		}
	}
	if err == nil {
		seq, err = p.int()
	}
	if next(); err == nil {
		t, err = p.int()
	}
	if next(); err == nil {
		kind, err = p.rawString()
	}
	if next(); err == nil {
		e.TaskRun, err = p.string()
	}
	if next(); err == nil {
		mi, err = p.int()
	}
	if next(); err == nil {
		att, err = p.int()
	}
	if next(); err == nil {
		state, err = p.rawString()
	}
	if next(); err == nil {
		level, err = p.rawString()
	}
	if next(); err == nil {
		e.Msg, err = p.string()
	}
	if next(); err == nil {
		ch, err = p.int()
	}
	if err == nil {
		err = p.byte(']')
	}
	if err != nil {
		return e, err
	}
	if seq < 0 {
		return e, errSyntax
	}
	e.Seq, e.Time, e.MapIndex, e.Attempt, e.Children = uint64(seq), unixNano(t), int(mi), int(att), int(ch)
	if e.Kind, err = lookupName(kindByName, "event kind", kind, &p.kind, &p.kindV); err != nil {
		return e, err
	}
	if len(state) > 0 {
		if e.State, err = lookupName(stateByName, "state", state, &p.state, &p.stateV); err != nil {
			return e, err
		}
	}
	if len(level) > 0 {
		if e.Level, err = lookupName(levelByName, "level", level, &p.level, &p.levelV); err != nil {
			return e, err
		}
	}
	return e, nil
}

// lookupName returns the value of name in m, remembering the last name
// found and its value in last and lastV.
func lookupName[V any](m map[string]V, what string, name []byte, last *[]byte, lastV *V) (V, error) {
	if *last != nil && bytes.Equal(name, *last) {
		return *lastV, nil
	}
	v, ok := m[string(name)]
	if !ok {
		return v, fmt.Errorf("unknown %s %q", what, name)
	}
	*last, *lastV = name, v
	return v, nil
}

func (p *entryParser) int() (int64, error) {
	j, neg := p.i, false
	if j < len(p.b) && p.b[j] == '-' {
		j, neg = j+1, true
	}
	start := j
	var n int64
	for ; j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9'; j++ {
		d := int64(p.b[j] - '0')
		if n > (math.MaxInt64-d)/10 { // past int64: the slow path says why
			return 0, errSyntax
		}
		n = n*10 + d
	}
	if j == start {
		return 0, errSyntax
	}
	p.i = j
	if neg {
		n = -n
	}
	return n, nil
}

// rawString reads a string that needs no unescaping (kinds, states,
// levels) and returns its bytes.
func (p *entryParser) rawString() ([]byte, error) {
	if err := p.byte('"'); err != nil {
		return nil, err
	}
	j := p.i
	for j < len(p.b) && p.b[j] != '"' {
		if p.b[j] == '\\' {
			return nil, errSyntax
		}
		j++
	}
	if j == len(p.b) {
		return nil, errSyntax
	}
	s := p.b[p.i:j]
	p.i = j + 1
	return s, nil
}

func (p *entryParser) string() (string, error) {
	start := p.i
	if err := p.byte('"'); err != nil {
		return "", err
	}
	// Most strings have no escape: up to the next quote, no backslash.
	if q := bytes.IndexByte(p.b[p.i:], '"'); q >= 0 && bytes.IndexByte(p.b[p.i:p.i+q], '\\') < 0 {
		if p.s == "" {
			p.s = string(p.b)
		}
		s := p.s[p.i : p.i+q]
		p.i += q + 1
		return s, nil
	}
	j := p.i
	for ; j < len(p.b) && p.b[j] != '"'; j++ {
		if p.b[j] == '\\' {
			j++
		}
	}
	if j >= len(p.b) {
		return "", errSyntax
	}
	p.i = j + 1
	var s string
	if err := json.Unmarshal(p.b[start:j+1], &s); err != nil {
		return "", err
	}
	return s, nil
}

// keep reports whether f selects e.
func (f LogFilter) keep(e *runtime.Event) bool {
	return e.Seq > f.After && (f.Task == "" || e.TaskRun == "" || e.TaskRun == f.Task ||
		strings.HasPrefix(e.TaskRun, f.Task+"["))
}

// EachLog calls fn with a run's log entries, in order, as Logs returns
// them, reading them from the database as it goes: a few chunks' entries
// per core are in memory at a time, whatever the size of the log. fn is
// called from the caller's goroutine and must not keep the event it is
// given past the call.
func (s *Store) EachLog(ctx context.Context, runID string, f LogFilter, fn func(*runtime.Event) error) error {
	var started int64
	err := s.db.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, runID).Scan(&started)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w %q", ErrNotFound, runID)
	}
	if err != nil {
		return err
	}
	rr, err := readRun(ctx, s.db, runID, started, nil)
	if err != nil {
		return err
	}
	return s.eachLog(ctx, runID, f, rr.records, rr.lastSeq, fn)
}

// eachLog calls fn with the log entries of a run's chunks up to lastSeq
// that f selects, and the first start and the end of each of records
// made again, in order.
func (s *Store) eachLog(ctx context.Context, runID string, f LogFilter, records []*record, lastSeq uint64, fn func(*runtime.Event) error) error {
	// The first start and the end of each task run, made again from the
	// records: two events per task run that is not a mapped child.
	var made []runtime.Event
	for _, r := range records {
		for _, e := range r.events(runID) {
			if f.keep(&e) {
				made = append(made, e)
			}
		}
	}
	slices.SortStableFunc(made, func(a, b runtime.Event) int { return cmpSeq(a.Seq, b.Seq) })
	// Only the chunks the records were read from: a chunk written since
	// is read by the next call (wfsh logs --follow).
	i := 0
	err := eachLogEntry(ctx, s.db, runID, f.After, lastSeq, func(e *runtime.Event) error {
		if !f.keep(e) {
			return nil
		}
		for ; i < len(made) && made[i].Seq < e.Seq; i++ {
			if err := fn(&made[i]); err != nil {
				return err
			}
		}
		return fn(e)
	})
	if err != nil {
		return err
	}
	for ; i < len(made); i++ {
		if err := fn(&made[i]); err != nil {
			return err
		}
	}
	return nil
}

// LogFollower reads a run's log as it is written: each Next gives the
// entries after the last it gave, reading only the chunks written since
// (EachLog reads every chunk's records each time: a run of 100,000 task
// runs, followed live, would read them all at each write).
type LogFollower struct {
	st   *Store
	id   string
	f    LogFilter
	base int64
	m    *merger
}

// FollowLog follows run id's log entries that f selects, after f.After.
func (s *Store) FollowLog(id string, f LogFilter) *LogFollower {
	return &LogFollower{st: s, id: id, f: f, m: newMerger()}
}

// Next calls fn with the entries written since the last call, in order,
// as EachLog would give them.
func (l *LogFollower) Next(ctx context.Context, fn func(*runtime.Event) error) error {
	var base int64
	err := l.st.db.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, l.id).Scan(&base)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w %q", ErrNotFound, l.id)
	}
	if err != nil {
		return err
	}
	if base != l.base {
		l.base, l.m = base, newMerger()
	}
	if _, err := l.m.read(ctx, l.st.db, l.id, base); err != nil {
		l.m = newMerger()
		return err
	}
	seen := make(map[*record]bool, len(l.m.changed))
	changed := make([]*record, 0, len(l.m.changed))
	for _, r := range l.m.changed {
		if !seen[r] {
			seen[r] = true
			changed = append(changed, r)
		}
	}
	return l.st.eachLog(ctx, l.id, l.f, changed, l.m.lastSeq, func(e *runtime.Event) error {
		l.f.After = max(l.f.After, e.Seq)
		return fn(e)
	})
}
