package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

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

// storedMax is the size up to which a chunk's entries are written as one
// stored DEFLATE block (RFC 1951, 3.2.4: the bytes as they are, behind a
// five-byte header) rather than compressed. A small run's log is a few
// hundred bytes, of which compressing saves little, and compressing them
// touches a writer's hash table: 3 % of hello_world's CPU with the store
// (docs/performance.md). Every reader of DEFLATE reads a stored block.
const storedMax = 4 << 10

// compress returns the DEFLATE of b, valid until the next call.
func (c *compressor) compress(b []byte) []byte {
	if len(b) <= storedMax {
		c.out = appendStored(c.out[:0], b)
		return c.out
	}
	d := deflaters.Get().(*deflater)
	d.buf.Reset()
	d.w.Reset(&d.buf)
	d.w.Write(b)
	d.w.Close()
	c.out = append(c.out[:0], d.buf.Bytes()...)
	deflaters.Put(d)
	return c.out
}

// appendStored appends b, at most 65,535 bytes, as the one and final
// stored block of a DEFLATE stream: BFINAL 1 and BTYPE 00 padded to a byte,
// LEN and its complement NLEN (little-endian), then the bytes.
func appendStored(dst, b []byte) []byte {
	n := uint16(len(b))
	dst = append(dst, 1, byte(n), byte(n>>8), byte(^n), byte(^n>>8))
	return append(dst, b...)
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
	return eachLogChunk(ctx, q, runID, from, to, logDecoding{}, func(c *logChunk) error {
		for i := range c.entries {
			if err := fn(&c.entries[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// logDecoding is what the decoders do beyond decoding: which entries they
// keep (keep nil: all) and how they format them (text nil: they do not).
type logDecoding struct {
	keep func(*runtime.Event) bool
	text *LogText
}

// eachLogChunk calls fn with the chunks of eachLogEntry, decoded as dec
// says, in order.
func eachLogChunk(ctx context.Context, q querier, runID string, from, to uint64, dec logDecoding, fn func(*logChunk) error) error {
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
			d := chunkDecoder{logDecoding: dec}
			if dec.text != nil {
				d.format = dec.text.NewFormatter()
			}
			for c := range jobs {
				c.decode(&d, runID)
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
// Decoders that format keep the text of the entries they formatted in
// out, and in items every entry kept, in order.
type logChunk struct {
	seq     int64
	text, z []byte
	entries []runtime.Event // decoded, not formatted
	out     *logText
	err     error
	done    chan struct{}
}

// logText is the text of a chunk's formatted entries, and the order of
// all the entries kept.
type logText struct {
	b     []byte
	items []logItem
}

// logItem is one entry of a chunk: formatted, the end of its text in
// logText.b; otherwise end is -1 and the entry is the next of entries.
type logItem struct {
	seq uint64
	end int
}

var logTexts = sync.Pool{New: func() any { return new(logText) }}

// chunkDecoder is what a decoding goroutine keeps from chunk to chunk.
type chunkDecoder struct {
	logDecoding
	inf    inflater
	format LogFormatter
	ev     runtime.Event
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
func (c *logChunk) decode(d *chunkDecoder, runID string) {
	js := c.text
	if c.z != nil {
		if js, c.err = d.inf.inflate(c.z); c.err != nil {
			c.err = fmt.Errorf("run %s, chunk %d: %w", runID, c.seq, c.err)
			return
		}
	}
	if d.text != nil {
		if c.err = c.format(d, js); c.err != nil {
			c.err = fmt.Errorf("run %s, chunk %d: %w", runID, c.seq, c.err)
		}
		c.text, c.z = nil, nil
		return
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

// format decodes the chunk's entries and formats those d.format takes,
// straight from the parser: no entry is kept but those it does not take.
// Entries out of order (older stores) are decoded whole and sorted first.
func (c *logChunk) format(d *chunkDecoder, js []byte) error {
	c.out = logTexts.Get().(*logText)
	// The strings of the entries are js's bytes, not a copy: the
	// formatter is done with them when it returns, and the entries kept
	// get copies (add).
	p := entryParser{b: js, s: unsafe.String(unsafe.SliceData(js), len(js))}
	var last uint64
	sorted := true
	err := p.entries(&d.ev, func(e *runtime.Event) {
		sorted = sorted && e.Seq >= last
		last = e.Seq
		if sorted {
			c.add(d, e)
		}
	})
	d.ev = runtime.Event{}
	if err == nil && sorted {
		return nil
	}
	c.out.b, c.out.items, c.entries = c.out.b[:0], c.out.items[:0], c.entries[:0]
	evs, err := appendLogEntries(nil, js)
	if err != nil {
		return err
	}
	slices.SortStableFunc(evs, func(a, b runtime.Event) int { return cmpSeq(a.Seq, b.Seq) })
	for i := range evs {
		c.add(d, &evs[i])
	}
	return nil
}

// add formats e or keeps it, if d keeps it at all.
func (c *logChunk) add(d *chunkDecoder, e *runtime.Event) {
	if d.keep != nil && !d.keep(e) {
		return
	}
	if b, ok := d.format.AppendEntry(c.out.b, e); ok {
		c.out.b = b
		c.out.items = append(c.out.items, logItem{seq: e.Seq, end: len(b)})
		return
	}
	kept := *e
	kept.TaskRun, kept.Msg = strings.Clone(e.TaskRun), strings.Clone(e.Msg)
	c.entries = append(c.entries, kept)
	c.out.items = append(c.out.items, logItem{seq: e.Seq, end: -1})
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
	if c.out != nil {
		c.out.b, c.out.items = c.out.b[:0], c.out.items[:0]
		logTexts.Put(c.out)
		c.out = nil
	}
}

// deliverLogChunks calls fn with each chunk's entries in the order the
// chunks were read.
func deliverLogChunks(ctx context.Context, order <-chan *logChunk, runID string, fn func(*logChunk) error) error {
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
		}
		if err := fn(c); err != nil {
			return err
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
	var e runtime.Event
	if err := p.entries(&e, func(e *runtime.Event) { evs = append(evs, *e) }); err == nil {
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
	// The last kind, state and level names found, as written (quoted,
	// with the comma after them), and their values: consecutive entries
	// mostly repeat them.
	kind, state, level []byte
	kindV              runtime.Kind
	stateV             runtime.State
	levelV             runtime.Level
	// mid is the last entry's fields between its time and its message,
	// as written, and midEv has them as read.
	mid   []byte
	midEv runtime.Event
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

// entries reads the entries one by one into e, calling add with e after
// each: add must not keep e (its strings are valid as long as p.b).
func (p *entryParser) entries(e *runtime.Event, add func(*runtime.Event)) error {
	*e = runtime.Event{}
	if err := p.byte('['); err != nil {
		return err
	}
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return p.end()
	}
	for {
		if err := p.entry(e); err != nil {
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

// entry reads an entry into e, setting every field an entry has.
func (p *entryParser) entry(e *runtime.Event) error {
	e.Node = runtime.NoNode
	// Straight through, the fields in order: each is followed by a
	// comma but the last, followed by the entry's closing bracket.
	if err := p.byte('['); err != nil {
		return err
	}
	seq, err := p.intThen(',')
	if err != nil {
		return err
	}
	if seq < 0 {
		return errSyntax
	}
	t, err := p.intThen(',')
	if err != nil {
		return err
	}
	// The fields between the time and the message (kind, task run, map
	// index, attempt, state, level) are mostly the last entry's, as
	// written: then they are compared, not read.
	if n := len(p.mid); n > 0 && len(p.b)-p.i >= n && bytes.Equal(p.b[p.i:p.i+n], p.mid) {
		p.i += n
		m := &p.midEv
		e.Kind, e.TaskRun, e.MapIndex, e.Attempt, e.State, e.Level = m.Kind, m.TaskRun, m.MapIndex, m.Attempt, m.State, m.Level
	} else if err := p.middle(e); err != nil {
		return err
	}
	if e.Msg, err = p.stringThen(','); err != nil {
		return err
	}
	ch, err := p.intThen(']')
	if err != nil {
		return err
	}
	e.Seq, e.Time, e.Children = uint64(seq), unixNano(t), int(ch)
	return nil
}

// middle reads the fields of an entry between its time and its message
// into e, and keeps them, as written and as read, for the next entry.
func (p *entryParser) middle(e *runtime.Event) error {
	start := p.i
	var err error
	if e.Kind, err = nameThen(p, kindByName, "event kind", false, &p.kind, &p.kindV); err != nil {
		return err
	}
	if e.TaskRun, err = p.stringThen(','); err != nil {
		return err
	}
	mi, err := p.intThen(',')
	if err != nil {
		return err
	}
	att, err := p.intThen(',')
	if err != nil {
		return err
	}
	if e.State, err = nameThen(p, stateByName, "state", true, &p.state, &p.stateV); err != nil {
		return err
	}
	if e.Level, err = nameThen(p, levelByName, "level", true, &p.level, &p.levelV); err != nil {
		return err
	}
	e.MapIndex, e.Attempt = int(mi), int(att)
	p.mid = p.b[start:p.i]
	m := &p.midEv
	m.Kind, m.TaskRun, m.MapIndex, m.Attempt, m.State, m.Level = e.Kind, e.TaskRun, e.MapIndex, e.Attempt, e.State, e.Level
	return nil
}

// intThen reads an integer and the byte c after it.
func (p *entryParser) intThen(c byte) (int64, error) {
	n, err := p.int()
	if err == nil {
		err = p.byte(c)
	}
	return n, err
}

// stringThen reads a string and the byte c after it.
func (p *entryParser) stringThen(c byte) (string, error) {
	s, err := p.string()
	if err == nil {
		err = p.byte(c)
	}
	return s, err
}

// nameThen reads a name (a kind, a state, a level; "" is the zero value
// if empty allows it) and the comma after it, and returns its value in m.
// Consecutive entries mostly repeat their names: the last one found, in
// last, is compared in place, with its quotes and comma, before anything
// is scanned.
func nameThen[V any](p *entryParser, m map[string]V, what string, empty bool, last *[]byte, lastV *V) (V, error) {
	var zero V
	rest := p.b[p.i:]
	if empty && len(rest) >= 3 && rest[0] == '"' && rest[1] == '"' && rest[2] == ',' {
		p.i += 3
		return zero, nil
	}
	if n := len(*last); n > 0 && len(rest) >= n && bytes.Equal(rest[:n], *last) {
		p.i += n
		return *lastV, nil
	}
	start := p.i
	name, err := p.rawString()
	if err == nil {
		err = p.byte(',')
	}
	if err != nil {
		return zero, err
	}
	v, ok := m[string(name)]
	if !ok {
		return zero, fmt.Errorf("unknown %s %q", what, name)
	}
	*last, *lastV = p.b[start:p.i], v
	return v, nil
}

func (p *entryParser) int() (int64, error) {
	j, neg := p.i, false
	if j < len(p.b) && p.b[j] == '-' {
		j, neg = j+1, true
	}
	start := j
	var n int64
	// Eight digits at a time while there are (a time has 19), up to 16:
	// 18 digits fit in an int64 whatever they are, so no check of
	// overflow (a division per digit) before the 19th.
	for ; j+8 <= len(p.b) && j-start < 16; j += 8 {
		x := binary.LittleEndian.Uint64(p.b[j:])
		if !eightDigits(x) {
			break
		}
		n = n*1e8 + int64(eightDigitsValue(x))
	}
	for ; j < len(p.b) && j-start < 18 && p.b[j] >= '0' && p.b[j] <= '9'; j++ {
		n = n*10 + int64(p.b[j]-'0')
	}
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

// eightDigits reports whether the eight bytes of x, read little endian,
// are all ASCII digits: each is 0x3_, and adding 6 to it keeps it 0x3_
// (a low half above 9 would carry).
func eightDigits(x uint64) bool {
	const high, three, six = 0xf0f0f0f0f0f0f0f0, 0x3030303030303030, 0x0606060606060606
	return x&high == three && (x+six)&high == three
}

// eightDigitsValue is the number that the eight digits of x, read little
// endian (the first digit in the low byte), write. The digits are
// combined in pairs, the pairs in fours, the fours in one: three
// multiplications instead of eight.
func eightDigitsValue(x uint64) uint64 {
	x -= 0x3030303030303030
	// Each even byte: 10 times its digit plus the next byte's (at most
	// 99: nothing carries).
	x = (x*10 + x>>8) & 0x00ff00ff00ff00ff
	// Each even 16 bits: 100 times its pair plus the next pair's.
	x = (x*100 + x>>16) & 0x0000ffff0000ffff
	// The low 32 bits: 10,000 times the first four plus the last four.
	return (x*10000 + x>>32) & 0xffffffff
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
	rr, err := s.runRecords(ctx, runID)
	if err != nil {
		return err
	}
	return s.eachLog(ctx, runID, f, rr.records, rr.lastSeq, fn)
}

// runRecords reads the merged records of run runID.
func (s *Store) runRecords(ctx context.Context, runID string) (*storedRun, error) {
	var started int64
	err := s.db.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, runID).Scan(&started)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w %q", ErrNotFound, runID)
	}
	if err != nil {
		return nil, err
	}
	return readRun(ctx, s.db, runID, started, nil)
}

// madeEvents are the first start and the end of each task run made again
// from the records, those f selects, in order: two events per task run
// that is not a mapped child.
func madeEvents(runID string, f LogFilter, records []*record) []runtime.Event {
	var made []runtime.Event
	for _, r := range records {
		for _, e := range r.events(runID) {
			if f.keep(&e) {
				made = append(made, e)
			}
		}
	}
	slices.SortStableFunc(made, func(a, b runtime.Event) int { return cmpSeq(a.Seq, b.Seq) })
	return made
}

// A LogFormatter formats log entries as text on the goroutines that
// decode them (EachLogText), so that what needs nothing of the entries
// before it, a run's task log lines, is formatted on every core at once.
type LogFormatter interface {
	// AppendEntry appends the text of e to dst and reports true, or
	// reports false to have e given to EachLogText's fn, in order.
	// e and its strings are valid only during the call.
	AppendEntry(dst []byte, e *runtime.Event) ([]byte, bool)
}

// LogText is where EachLogText writes the entries it formats.
type LogText struct {
	// NewFormatter makes the formatter of one decoding goroutine.
	NewFormatter func() LogFormatter
	// Write writes the text of formatted entries, in order, from the
	// caller's goroutine; b is not valid after the call.
	Write func(b []byte) error
}

// EachLogText is EachLog for a printer: the entries that one of text's
// formatters takes are written as text to text.Write, the others given to
// fn, all in the order EachLog gives them. It returns the last Seq written
// or given.
func (s *Store) EachLogText(ctx context.Context, runID string, f LogFilter, text LogText, fn func(*runtime.Event) error) (uint64, error) {
	rr, err := s.runRecords(ctx, runID)
	if err != nil {
		return 0, err
	}
	m := textMerge{made: madeEvents(runID, f, rr.records), write: text.Write, fn: fn}
	err = eachLogChunk(ctx, s.db, runID, f.After, rr.lastSeq, logDecoding{keep: f.keep, text: &text}, m.chunk)
	if err == nil {
		err = m.madeBefore(math.MaxUint64)
	}
	return m.last, err
}

// textMerge writes the text of chunks and gives their other entries to
// fn, with the events made from the records in between, in order.
type textMerge struct {
	made  []runtime.Event
	i     int // in made
	write func([]byte) error
	fn    func(*runtime.Event) error
	last  uint64
}

// madeBefore gives fn the made events before seq.
func (m *textMerge) madeBefore(seq uint64) error {
	for ; m.i < len(m.made) && m.made[m.i].Seq < seq; m.i++ {
		m.last = m.made[m.i].Seq
		if err := m.fn(&m.made[m.i]); err != nil {
			return err
		}
	}
	return nil
}

// chunk writes c's entries: runs of formatted ones in one write each.
func (m *textMerge) chunk(c *logChunk) error {
	from, to, ev := 0, 0, 0
	flush := func() error {
		if to == from {
			return nil
		}
		err := m.write(c.out.b[from:to])
		from = to
		return err
	}
	for _, it := range c.out.items {
		if m.i < len(m.made) && m.made[m.i].Seq < it.seq {
			if err := flush(); err != nil {
				return err
			}
			if err := m.madeBefore(it.seq); err != nil {
				return err
			}
		}
		m.last = it.seq
		if it.end >= 0 {
			to = it.end
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := m.fn(&c.entries[ev]); err != nil {
			return err
		}
		ev++
	}
	return flush()
}

// eachLog calls fn with the log entries of a run's chunks up to lastSeq
// that f selects, and the first start and the end of each of records
// made again, in order.
func (s *Store) eachLog(ctx context.Context, runID string, f LogFilter, records []*record, lastSeq uint64, fn func(*runtime.Event) error) error {
	made := madeEvents(runID, f, records)
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
	st      *Store
	id      string
	f       LogFilter
	base    int64
	m       *merger
	tail    int  // the entries the first Next gives, at most (0: all; Tail)
	earlier bool // entries were left out before the first given
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
	if err := l.startTail(ctx); err != nil {
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
