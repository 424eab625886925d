package store

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// A queued run is a scheduled run that waits for the runs of its flow to
// end (overlap="queue" or "cancel_other"): its row is in, Pending with its
// key taken and its scheduler's pid, so that a scheduler killed while it
// waits leaves it to the next one, which runs it, once. A queued run is
// not crashed when its process is gone: it has not started.

// queuedRuns is the condition of a queued run's row.
const queuedRuns = `state = 'Pending' AND schedule_key IS NOT NULL AND deployment_id IS NULL AND finished_at IS NULL`

// QueueRun inserts the row of a queued run, Pending with msg; its key is
// taken as ClaimRun takes it (an error wrapping ErrKeyTaken when another
// run has it). StartQueued starts it.
func (s *Store) QueueRun(ri RunInfo, msg string) error {
	return s.insertScheduled(ri, runtime.Pending, msg, false)
}

// StartQueued turns the queued run ri.ID of this process into a running
// one, as ClaimRun would have made it: Running since now, with ri's
// parameters, context and lateness. Record it with a Recorder whose
// RunInfo has Claimed set. A run that is no longer queued by this process
// gives an error wrapping ErrKeyTaken.
func (s *Store) StartQueued(ri RunInfo) error {
	var n int64
	err := retryBusy(func() error {
		res, err := s.db.Exec(`UPDATE runs SET state = ?, message = '', started_at = ?, parameters = ?, context = ?, late = ?
			WHERE id = ? AND pid = ? AND `+queuedRuns,
			runtime.Running.String(), time.Now().UnixNano(), jsonObject(ri.Parameters), jsonObject(ri.Context),
			ri.Scheduled.Late, ri.ID, os.Getpid())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("run %s: %w", ri.ID, err)
	case n == 0:
		return fmt.Errorf("%w: %s is no longer queued here", ErrKeyTaken, ri.Scheduled.Key)
	}
	return nil
}

// EndQueued ends the queued run id of this process that cannot start
// (its flow no longer builds): it is recorded in state st with msg, so
// that no later scheduler takes it over again.
func (s *Store) EndQueued(id string, st runtime.State, msg string) error {
	return retryBusy(func() error {
		_, err := s.db.Exec(`UPDATE runs SET state = ?, message = ?, finished_at = ? WHERE id = ? AND pid = ? AND `+queuedRuns,
			st.String(), msg, time.Now().UnixNano(), id, os.Getpid())
		return err
	})
}

// QueuedRun is a queued run taken over by AdoptQueued.
type QueuedRun struct {
	ID string
	Scheduled
}

// AdoptQueued takes over the queued runs of flow's schedule scheduleID
// whose scheduler is gone (its process has exited), oldest first: they
// become this process's, for StartQueued. Runs queued by a live process
// stay its own. Not on PostgreSQL, whose runs' pids may be another
// machine's (as markCrashed): there, queued runs wait for their process.
func (s *Store) AdoptQueued(ctx context.Context, flow, scheduleID string) ([]QueuedRun, error) {
	if s.pg {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, pid, scheduled_at, schedule_key FROM runs
		WHERE flow = ? AND schedule_id = ? AND `+queuedRuns+` ORDER BY scheduled_at`, flow, scheduleID)
	if err != nil {
		return nil, err
	}
	type row struct {
		q   QueuedRun
		pid int
	}
	var found []row
	for rows.Next() {
		var r row
		var at int64
		if err := rows.Scan(&r.q.ID, &r.pid, &at, &r.q.Key); err != nil {
			rows.Close()
			return nil, err
		}
		r.q.At, r.q.ScheduleID = unixNano(at), scheduleID
		if r.pid != os.Getpid() && !processAlive(r.pid) {
			found = append(found, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var adopted []QueuedRun
	for _, r := range found {
		var n int64
		err := retryBusy(func() error {
			// Another scheduler may adopt it first: the old pid decides.
			res, err := s.db.ExecContext(ctx, `UPDATE runs SET pid = ? WHERE id = ? AND pid = ? AND `+queuedRuns,
				os.Getpid(), r.q.ID, r.pid)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return adopted, err
		}
		if n > 0 {
			adopted = append(adopted, r.q)
		}
	}
	return adopted, nil
}
