package store

import (
	"context"
	"time"
)

// notifyChannel is the PostgreSQL channel of the servers sharing one
// database: a run was made, requeued or written to.
const notifyChannel = "wfsh_runs"

// slotsChannel is the PostgreSQL channel of the processes sharing one
// database: a task run's slot was freed (limits.go).
const slotsChannel = "wfsh_slots"

// Notify tells the other servers on this database that runs changed, so
// that their waiting claims and event streams look again at once. On
// SQLite, one server's own, it does nothing.
func (s *Store) Notify(ctx context.Context) error {
	return s.notify(ctx, notifyChannel)
}

func (s *Store) notify(ctx context.Context, channel string) error {
	if !s.pg {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `SELECT pg_notify('`+channel+`', ?)`, s.self)
	return err
}

// Listen calls changed each time a server on this database notifies,
// until ctx ends; on SQLite it returns at once. A lost connection is
// opened again (a second later), and changed is called then too: what
// was notified meanwhile is not lost, only merged.
func (s *Store) Listen(ctx context.Context, changed func()) error {
	return s.listen(ctx, notifyChannel, changed)
}

func (s *Store) listen(ctx context.Context, channel string, changed func()) error {
	if !s.pg {
		return nil
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channel, changed)
		if ctx.Err() != nil {
			return nil
		}
		_ = err
		changed()
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}
