package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// writeGroup gathers the writes of many goroutines into few transactions:
// when a thousand scheduled runs start and end together, their claims and
// their recorders' writes go in one transaction a turn, not one each.
// One transaction each would queue them on SQLite's write lock, each
// waiter on a connection of its own (a page cache each) sleeping in
// SQLite's busy handler.
//
// The first caller to find no one writing writes what is pending, then
// what came meanwhile, until nothing is left; the others wait for their
// turn's result. Each write runs under a savepoint of its own, so that
// one that fails is undone alone and only its caller gets the error.
type writeGroup struct {
	mu      sync.Mutex
	pending []*groupWrite
	writing bool
}

type groupWrite struct {
	f    func(tx *sql.Tx) error
	one  bool  // f runs one statement: no savepoint needed
	err  error // f's own error
	done chan error
}

// inGroup runs f in a transaction shared with the writes of other
// goroutines that come at the same time, and returns f's error or the
// transaction's. f may run more than once (the transaction is tried again
// while SQLite is busy): it must do all its work from the start each
// time. When f runs one statement only (one is set), it needs no
// savepoint: SQLite undoes a statement that fails by itself. On
// PostgreSQL, which has no single write lock, f gets a transaction of
// its own.
func (s *Store) inGroup(one bool, f func(tx *sql.Tx) error) error {
	if s.pg {
		return ownTx(s.db, f)
	}
	w := &groupWrite{f: f, one: one, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if !g.writing {
		g.writing = true
		for len(g.pending) > 0 {
			batch := g.pending
			g.pending = nil
			g.mu.Unlock()
			s.writeBatch(batch)
			g.mu.Lock()
		}
		g.writing = false
	}
	g.mu.Unlock()
	return <-w.done
}

// maxGroup bounds the writes of one transaction, so that the first of a
// burst do not wait for the last.
const maxGroup = 256

func (s *Store) writeBatch(batch []*groupWrite) {
	for len(batch) > 0 {
		n := min(len(batch), maxGroup)
		err := retryBusy(func() error { return s.writeTurn(batch[:n]) })
		for _, w := range batch[:n] {
			w.done <- errors.Join(err, w.err)
		}
		batch = batch[n:]
	}
}

// writeTurn runs the writes in one transaction, each under a savepoint.
func (s *Store) writeTurn(batch []*groupWrite) error {
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	alone := len(batch) == 1 // its failure undoes only its own transaction
	for _, w := range batch {
		if w.one || alone {
			if w.err = w.f(tx); w.err != nil && alone {
				return nil // rolled back: its error goes to its caller
			}
			continue
		}
		if _, err := tx.Exec(`SAVEPOINT w`); err != nil {
			return err
		}
		w.err = w.f(tx)
		if w.err != nil {
			if _, err := tx.Exec(`ROLLBACK TO w`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`RELEASE w`); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ownTx runs f in a transaction of its own.
func ownTx(db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
