package store

import (
	"database/sql"
	"errors"
	"testing"
)

// TestGroupWriteFailsAlone writes a turn of three writes, the second of
// which fails after a first statement: the others are committed, its
// statement is undone, and only it gets the error. Alone in its turn, a
// failing write is undone all the same.
func TestGroupWriteFailsAlone(t *testing.T) {
	s, _ := openTemp(t)
	boom := errors.New("boom")
	insert := func(key string, fail bool) *groupWrite {
		return &groupWrite{done: make(chan error, 1), f: func(tx *sql.Tx) error {
			if _, err := tx.Exec(`INSERT INTO cache (key, task, flow, run_id, task_run, result, created_at) VALUES (?, 't', 'F', 'r', 't', '1', 0)`, key); err != nil {
				return err
			}
			if fail {
				return boom
			}
			return nil
		}}
	}
	turn := []*groupWrite{insert("a", false), insert("b", true), insert("c", false)}
	s.writeBatch(turn)
	for i, want := range []error{nil, boom, nil} {
		if err := <-turn[i].done; !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("write %d: %v, want %v", i, err, want)
		}
	}
	lone := insert("d", true)
	s.writeBatch([]*groupWrite{lone})
	if err := <-lone.done; !errors.Is(err, boom) {
		t.Errorf("lone write: %v, want boom", err)
	}
	rows, err := s.db.Query(`SELECT key FROM cache ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys += k
	}
	if keys != "ac" {
		t.Errorf("committed %q, want a and c only", keys)
	}
}
