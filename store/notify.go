package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"
)

// notifyChannel is the PostgreSQL channel of the servers sharing one
// database: a run was made, requeued or written to.
const notifyChannel = "wfsh_runs"

// Notify tells the other servers on this database that runs changed, so
// that their waiting claims and event streams look again at once. On
// SQLite, one server's own, it does nothing.
func (s *Store) Notify(ctx context.Context) error {
	if !s.pg {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `SELECT pg_notify('`+notifyChannel+`', '')`)
	return err
}

// Listen calls changed each time a server on this database notifies,
// until ctx ends; on SQLite it returns at once. A lost connection is
// opened again (a second later), and changed is called then too: what
// was notified meanwhile is not lost, only merged.
func (s *Store) Listen(ctx context.Context, changed func()) error {
	if !s.pg {
		return nil
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, changed)
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

func (s *Store) listenOnce(ctx context.Context, changed func()) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(pgConn)
		if !ok {
			return errors.New("listen: not a PostgreSQL connection")
		}
		c := pc.Conn.Conn()
		if _, err := c.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
			return err
		}
		for {
			if _, err := c.WaitForNotification(ctx); err != nil {
				// The connection may be mid-wait: not fit for the pool.
				return driver.ErrBadConn
			}
			changed()
		}
	})
}
