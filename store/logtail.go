package store

import (
	"bytes"
	"context"
	"database/sql"
	"slices"

	"github.com/wfsh/wfsh/runtime"
)

// Tail makes l's first Next give only the last n of the entries its
// filter selects (all of them if there are no more; n <= 0: all), then
// every entry written after as before. A page that shows the last lines
// of a run's log starts there: what the log held before costs nothing
// but its chunks' sequence numbers. It returns l.
func (l *LogFollower) Tail(n int) *LogFollower {
	l.tail = n
	return l
}

// Earlier reports whether entries before the first that Next gave were
// left out by Tail.
func (l *LogFollower) Earlier() bool { return l.earlier }

// startTail moves l's filter past all but the last l.tail entries it
// selects up to the chunks the merger has read, once.
func (l *LogFollower) startTail(ctx context.Context) error {
	if l.tail <= 0 {
		return nil
	}
	after, earlier, err := l.st.tailStart(ctx, l.id, l.f, l.m.records, l.m.lastSeq, l.tail)
	if err != nil {
		return err
	}
	l.f.After, l.earlier, l.tail = max(l.f.After, after), earlier, 0
	return nil
}

// tailStart returns the After of a filter that selects only the last n
// of the entries f selects in the chunks up to lastSeq (f.After when
// there are no more than n), and whether it leaves entries out.
//
// The entries made again from records (a task run's first start and its
// end) are known from records; the stored ones are read from the last
// chunk back, and only until there are more than n: a chunk's entries
// all come after the chunk before it (its seq is its last event's, and a
// run's events are written in order), so once the entries after a
// chunk's seq number more than n, neither it nor any earlier chunk is
// read.
func (s *Store) tailStart(ctx context.Context, runID string, f LogFilter, records []*record, lastSeq uint64, n int) (uint64, bool, error) {
	made := madeEvents(runID, f, records)
	var seqs []uint64 // of the stored entries f selects, in the chunks read
	// enough returns the After that leaves the last n entries, if those
	// after bound (the chunks read so far) are more than n: then some
	// are left out.
	enough := func(bound uint64) (uint64, bool) {
		i, _ := slices.BinarySearchFunc(made, bound+1, func(e runtime.Event, seq uint64) int { return cmpSeq(e.Seq, seq) })
		if len(seqs)+len(made)-i <= n {
			return 0, false
		}
		all := slices.Clone(seqs)
		for _, e := range made[i:] {
			all = append(all, e.Seq)
		}
		slices.Sort(all)
		return all[len(all)-n] - 1, true
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, logs, logs_z FROM chunks WHERE run_id = ? AND seq >= ? AND seq <= ? ORDER BY seq DESC`,
		runID, int64(f.After), int64(lastSeq))
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	var d chunkDecoder
	for rows.Next() {
		c := logChunk{}
		var text, z sql.RawBytes
		if err := rows.Scan(&c.seq, &text, &z); err != nil {
			return 0, false, err
		}
		if after, ok := enough(uint64(c.seq)); ok {
			return after, true, nil
		}
		c.text, c.z = bytes.Clone(text), bytes.Clone(z)
		if c.decode(&d, runID); c.err != nil {
			return 0, false, c.err
		}
		for i := range c.entries {
			if f.keep(&c.entries[i]) {
				seqs = append(seqs, c.entries[i].Seq)
			}
		}
		c.release()
	}
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	if after, ok := enough(f.After); ok {
		return after, true, nil
	}
	return f.After, false, nil
}
