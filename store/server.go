package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// The server's runs (docs/server.md): a run is made Scheduled, claimed
// by a worker (Pending, under a lease), started (Running), and ends in a
// final state written by its worker or, when the lease lapses, by the
// server's reaper. Every non-final state has an owner and a deadline:
// Scheduled is the scheduler's until it is due, Pending and Running the
// worker's until lease_until, Cancelling the worker's until its lease
// lapses, then the reaper's.

var (
	// ErrNotHeld: the worker does not hold the run (it was reaped, or
	// claimed by another worker); the worker must stop it.
	ErrNotHeld = errors.New("the run is not held by this worker")
	// ErrRunExists: a run to make has the id of one there is.
	ErrRunExists = errors.New("a run with this id exists")
	// ErrFinished: the run has ended; it cannot change state again.
	ErrFinished = errors.New("the run has already ended")
	// ErrNoSuch: the named deployment, pool, token, secret or bundle
	// does not exist.
	ErrNoSuch = errors.New("not found")
	// ErrNotResumable: the run did not end Failed, Cancelled or Crashed,
	// so there is nothing to resume.
	ErrNotResumable = errors.New("only a run that ended Failed, Cancelled or Crashed is resumed")
	// ErrNotResumedChild: a subflow's run would resume a run that is not
	// the child run for its task run of the run its parent resumes.
	ErrNotResumedChild = errors.New("is not the child run for task run")
)

// NewRun is a run to make of a deployment.
type NewRun struct {
	ID         string
	Deployment *Deployment
	Parameters json.RawMessage // nil: the deployment's
	// ScheduledAt is when it is due (zero: now); Scheduled, for a run a
	// schedule made, its schedule and unique key.
	ScheduledAt time.Time
	Scheduled   *Scheduled
	// Context is the run's context (for a scheduled run, the keys of
	// schedule.Context), a JSON object; nil: {}.
	Context json.RawMessage
	// Crashes carries the count of a run scheduled again after a crash.
	Crashes int
	// Parent is the run that made this one (run_deployment in its flow),
	// ParentTaskRun that run's task run; "" for a run of its own.
	Parent, ParentTaskRun string
}

// CreateRun inserts a run of a deployment, Scheduled. A scheduled run
// whose key is taken is refused with an error wrapping ErrKeyTaken.
func (s *Store) CreateRun(ctx context.Context, nr NewRun, now time.Time) (Run, error) {
	d := nr.Deployment
	at := nr.ScheduledAt
	if at.IsZero() {
		at = now
	}
	params := nr.Parameters
	if params == nil {
		params = json.RawMessage(d.Parameters)
	}
	var sid, key any
	if sc := nr.Scheduled; sc != nil && sc.Key != "" {
		sid, key = sc.ScheduleID, sc.Key
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, started_at, pid,
			scheduled_at, schedule_id, schedule_key, deployment_id, pool, bundle, created_at, crashes, parent_id, parent_task)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nr.ID, d.Flow, d.File, d.Bundle, jsonObject(params), jsonObject(nr.Context), runtime.Scheduled.String(),
		at.UnixNano(), sid, key, d.ID, d.Pool, d.Bundle, now.UnixNano(), nr.Crashes, nr.Parent, nr.ParentTaskRun)
	if err != nil {
		if key != nil && isUniqueViolation(err) {
			return Run{}, fmt.Errorf("run %s: %w", nr.ID, ErrKeyTaken)
		}
		return Run{}, err
	}
	return s.GetRun(ctx, nr.ID)
}

// isUniqueViolation reports whether err is a unique constraint's.
func isUniqueViolation(err error) bool {
	for _, s := range []string{"UNIQUE constraint failed", "duplicate key value", "SQLSTATE 23505"} {
		if containsFold(err.Error(), s) {
			return true
		}
	}
	return false
}

// Claim gives the worker up to n due runs of its pool, each moved to
// Pending under a lease until now+lease, in one transaction: a run is
// claimed once, by one worker. Runs of a paused pool or deployment, and
// runs whose concurrency scope is full, wait.
func (s *Store) Claim(ctx context.Context, pool string, w Worker, n int, lease time.Duration, now time.Time) ([]Run, error) {
	if n <= 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// The claim is the worker's heartbeat too.
	if err := upsertWorker(ctx, tx, w, now); err != nil {
		return nil, err
	}
	// The claims of one pool take turns, as all claims do on SQLite: the
	// overlap policies count the runs in progress before they start one,
	// and two claims at once would both count none. The pool's lock
	// (PostgreSQL: taken with the pool's row, one statement) comes first,
	// so the scopes' locks after it (takeSlots) cannot deadlock.
	q, args := `SELECT paused, concurrency FROM pools WHERE name = ?`, []any{pool}
	if s.pg {
		q, args = `SELECT paused, concurrency FROM pg_advisory_xact_lock(?) AS l, pools WHERE name = ?`, []any{scopeLock("pool:" + pool), pool}
	}
	var poolPaused, poolLimit int
	err = tx.QueryRowContext(ctx, q, args...).Scan(&poolPaused, &poolLimit)
	if errors.Is(err, sql.ErrNoRows) || err == nil && poolPaused != 0 {
		return nil, tx.Commit() // the heartbeat
	}
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.deployment_id, d.concurrency, d.overlap, r.scheduled_at, d.late_after, d.tags FROM runs AS r
		JOIN deployments AS d ON d.id = r.deployment_id
		WHERE r.pool = ? AND r.state = ? AND r.scheduled_at <= ? AND d.paused = 0
		ORDER BY r.scheduled_at, r.id LIMIT ?`+s.skipLocked(),
		pool, runtime.Scheduled.String(), now.UnixNano(), 4*n)
	if err != nil {
		return nil, err
	}
	type due struct {
		id, dep, overlap, tags string
		limit                  int
		at, lateAfter          int64
	}
	var cands []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.dep, &d.limit, &d.overlap, &d.at, &d.lateAfter, &d.tags); err != nil {
			rows.Close()
			return nil, err
		}
		cands = append(cands, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Run
	for _, c := range cands {
		if len(out) == n {
			break
		}
		start, err := s.overlap(ctx, tx, c.id, c.dep, c.overlap, now)
		if err != nil {
			return nil, err
		}
		if !start {
			continue
		}
		limit := c.limit
		if c.overlap == "queue" && limit == 0 {
			limit = 1 // one at a time: the next waits for a free slot
		}
		scopes := []scope{{"pool:" + pool, poolLimit}, {"deployment:" + c.dep, limit}}
		tagged, err := tagScopes(ctx, tx, c.tags)
		if err != nil {
			return nil, err
		}
		ok, err := s.takeSlots(ctx, tx, c.id, append(scopes, tagged...))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		// Late: claimed more than the deployment's late_after (default
		// 15 s) past its time.
		late := c.lateAfter
		if late <= 0 {
			late = int64(defaultLateAfter)
		}
		// A run token of an earlier claim of the run was revoked when
		// that claim lapsed (Reap).
		r, err := s.claimRun(ctx, tx, c.id, w, now.Add(lease), now.UnixNano()-c.at > late)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, tx.Commit()
}

// claimRun moves a Scheduled run to Pending, held by w until until, and
// returns it as it is then. On PostgreSQL the update returns the run
// (one round trip); SQLite reads it after the update, which costs it
// less than a RETURNING of every column (measured in the server's
// profile: 0.5 ms against 0.1 a claim).
func (s *Store) claimRun(ctx context.Context, tx *sql.Tx, id string, w Worker, until time.Time, late bool) ([]Run, error) {
	const claim = `UPDATE runs SET state = ?, worker_id = ?, holder = ?, lease_until = ?, late = ? WHERE id = ? AND state = ?`
	args := []any{runtime.Pending.String(), w.ID, w.Token, until.UnixNano(), late, id, runtime.Scheduled.String()}
	if s.pg {
		return queryRuns(ctx, tx, claim+` RETURNING `+runColumns, args...)
	}
	if _, err := tx.ExecContext(ctx, claim, args...); err != nil {
		return nil, err
	}
	return queryRuns(ctx, tx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id)
}

// overlap applies a deployment's overlap policy to its due run id, given
// the runs of the deployment in progress: skip ends it Cancelled (false:
// do not start it), cancel_other asks the others to stop. allow and
// queue start it (queue through a slot of one).
func (s *Store) overlap(ctx context.Context, tx *sql.Tx, id, dep, policy string, now time.Time) (bool, error) {
	if policy != "skip" && policy != "cancel_other" {
		return true, nil
	}
	var active int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE deployment_id = ? AND subflow_of = '' AND state IN (?, ?, ?)`, dep,
		runtime.Pending.String(), runtime.Running.String(), runtime.Cancelling.String()).Scan(&active); err != nil {
		return false, err
	}
	if active == 0 {
		return true, nil
	}
	if policy == "skip" {
		return false, s.endRun(ctx, tx, id, runtime.Cancelled, fmt.Sprintf("skipped: %d run(s) of the deployment still in progress (overlap=\"skip\")", active), now)
	}
	_, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, message = ? WHERE deployment_id = ? AND subflow_of = '' AND state IN (?, ?)`,
		runtime.Cancelling.String(), "cancelled: run "+id+" of the deployment is due (overlap=\"cancel_other\")", dep,
		runtime.Pending.String(), runtime.Running.String())
	return true, err
}

// defaultLateAfter is schedule.DefaultLateAfter (the store imports no
// schedule): a run claimed later than this past its time is Late.
const defaultLateAfter = 15 * time.Second

// skipLocked is what a claim's SELECT ends with: on a database of many
// writers (PostgreSQL), the runs another claim has locked are skipped,
// and those it takes are locked until it commits. SQLite has one writer
// (the transaction holds the write lock from its start).
func (s *Store) skipLocked() string {
	if s.pg {
		return ` FOR UPDATE OF r SKIP LOCKED`
	}
	return ""
}

// tagScopes are the scopes of a deployment's tags (a JSON array) that
// have a limit (table limits), in the order of their names: claims lock
// scopes in one order (pool, deployment, tags by name), so that two
// claims cannot deadlock on PostgreSQL.
func tagScopes(ctx context.Context, tx *sql.Tx, tagsJSON string) ([]scope, error) {
	var tags []string
	if err := json.Unmarshal([]byte(tagsJSON), &tags); err != nil || len(tags) == 0 {
		return nil, nil
	}
	slices.Sort(tags)
	var out []scope
	for _, t := range slices.Compact(tags) {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT slots FROM limits WHERE name = ?`, t).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, scope{"tag:" + t, max(n, 0)})
	}
	return out, nil
}

type scope struct {
	name  string
	limit int // 0: no limit
}

// takeSlots inserts the run's slot in each scope, if every limited scope
// has room; false if one is full. On PostgreSQL, where claims run at once,
// each limited scope is locked (an advisory lock, until the transaction
// ends) before its slots are counted, so that two claims cannot both
// take its last slot; scopes are always locked in the same order (pool,
// then deployment), so claims cannot deadlock.
func (s *Store) takeSlots(ctx context.Context, tx *sql.Tx, runID string, scopes []scope) (bool, error) {
	for _, sc := range scopes {
		if sc.limit <= 0 && !strings.HasPrefix(sc.name, "tag:") {
			continue // 0: no limit (a tag's limit of 0 lets none run)
		}
		if s.pg {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, scopeLock(sc.name)); err != nil {
				return false, err
			}
		}
		var used int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM slots WHERE scope = ?`, sc.name).Scan(&used); err != nil {
			return false, err
		}
		if used >= sc.limit {
			return false, nil
		}
	}
	// One statement for all the run's slots.
	args := make([]any, 0, 2*len(scopes))
	for _, sc := range scopes {
		args = append(args, sc.name, runID)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO slots (scope, run_id) VALUES (?, ?)`+strings.Repeat(", (?, ?)", len(scopes)-1)+
		` ON CONFLICT DO NOTHING`, args...)
	return err == nil, err
}

// ApplyWrite records a write of a run's recorder, sent by the worker
// that holds the run: its start moves it to Running (a Cancelling run
// stays Cancelling), its chunk is added (once: a write sent again is
// taken once), its end finishes it and frees its slots.
func (s *Store) ApplyWrite(ctx context.Context, runID, worker string, w *Write) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var state string
	var holder sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT state, worker_id FROM runs WHERE id = ?`, runID).Scan(&state, &holder)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w %q", ErrNotFound, runID)
	}
	if err != nil {
		return err
	}
	st, err := runtime.ParseState(state)
	if err != nil {
		return err
	}
	if holder.String != worker || st.Finished() || st == runtime.Scheduled {
		return fmt.Errorf("run %s (%s): %w", runID, st, ErrNotHeld)
	}
	c := w.Chunk
	ends := c != nil && c.Final != nil
	if w.Start != nil && !ends {
		if err := startRun(ctx, tx, runID, w.Start); err != nil {
			return err
		}
	}
	if c != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO chunks (run_id, seq, tasks, children, logs, logs_z) VALUES (?, ?, ?, ?, '', ?)
			ON CONFLICT DO NOTHING`, runID, c.Seq, c.Tasks, c.Children, c.LogsZ); err != nil {
			return err
		}
	}
	if ends {
		f := c.Final
		if err := s.endStartedRun(ctx, tx, runID, w.Start, f.State, f.Msg, f.Time); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// startRun records a run's start: its graph, its start time, and
// Running (a Cancelling run stays Cancelling).
func startRun(ctx context.Context, tx *sql.Tx, runID string, st *Start) error {
	dag, err := putDAG(ctx, tx, st)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE runs SET dag = ?, started_at = ?, state = CASE WHEN state = ? THEN ? ELSE state END WHERE id = ?`,
		dag, st.Time.UnixNano(), runtime.Pending.String(), runtime.Running.String(), runID)
	return err
}

// putDAG stores the graph a run starts with, if any, and returns its
// hash (nil: none).
func putDAG(ctx context.Context, tx *sql.Tx, st *Start) (any, error) {
	if st.DAGHash == "" {
		return nil, nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO dags (hash, dag) VALUES (?, ?) ON CONFLICT DO NOTHING`, st.DAGHash, st.DAG)
	return st.DAGHash, err
}

// endRun finishes a run that has not finished, frees its slots and
// revokes its run tokens.
func (s *Store) endRun(ctx context.Context, tx *sql.Tx, runID string, st runtime.State, msg string, at time.Time) error {
	return s.endStartedRun(ctx, tx, runID, nil, st, msg, at)
}

// endStartedRun is endRun of a run that starts in the same write, start
// not nil (a short run's one write): its start is recorded with its end.
// On PostgreSQL the run, its slots and its tokens change in one
// statement (one round trip; SQLite's statements cost none).
func (s *Store) endStartedRun(ctx context.Context, tx *sql.Tx, runID string, start *Start, st runtime.State, msg string, at time.Time) error {
	set, args := `state = ?, message = ?, finished_at = ?, lease_until = NULL`, []any{st.String(), msg, at.UnixNano()}
	if start != nil {
		dag, err := putDAG(ctx, tx, start)
		if err != nil {
			return err
		}
		set, args = set+`, dag = ?, started_at = ?`, append(args, dag, start.Time.UnixNano())
	}
	end := `UPDATE runs SET ` + set + ` WHERE id = ? AND state IN (` + unfinishedStates + `)`
	args = append(args, runID)
	const free, revoke = `DELETE FROM slots WHERE run_id = ?`, `UPDATE tokens SET revoked_at = ? WHERE run_id = ? AND revoked_at IS NULL`
	if s.pg {
		if _, err := tx.ExecContext(ctx, `WITH ended AS (`+end+`), freed AS (`+free+`) `+revoke, append(args, runID, at.UnixNano(), runID)...); err != nil {
			return err
		}
	} else {
		if _, err := tx.ExecContext(ctx, end, args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, free, runID); err != nil {
			return err
		}
		if err := revokeRunTokens(ctx, tx, runID, at); err != nil {
			return err
		}
	}
	return s.endSubflows(ctx, tx, runID, st, at)
}

// endSubflows ends the subflow runs of run parent that have not ended
// (its process died, or was stopped, before they did), and theirs: no
// one would end them. Cancelled with a cancelled parent, else Crashed.
func (s *Store) endSubflows(ctx context.Context, tx *sql.Tx, parent string, st runtime.State, at time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE parent_id = ? AND subflow_of <> '' AND state IN (`+unfinishedStates+`)`, parent)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	end, msg := runtime.Crashed, fmt.Sprintf("crashed: its parent run %s ended %s before it did", parent, st)
	if st == runtime.Cancelled {
		end, msg = runtime.Cancelled, "cancelled with its parent run "+parent
	}
	for _, id := range ids {
		if err := crashRecordsAt(ctx, tx, id, msg, at); err != nil {
			return err
		}
		if err := s.endRun(ctx, tx, id, end, msg, at); err != nil {
			return err
		}
	}
	return nil
}

// NewSubflow is a subflow run to make (CreateSubflowRun): the child flow
// run of a subflow of a run being run, run in that run's process.
type NewSubflow struct {
	// ID is the child run's id (its process names it, as its log says).
	ID, Flow string
	// Parent is the run whose subflow it is, TaskRun that subflow's task
	// run there.
	Parent, TaskRun string
	Parameters      json.RawMessage // a JSON object
	// ResumedFrom, when Parent resumes a run, is that run's child run
	// for TaskRun, which this one resumes (ErrNotResumedChild if not).
	ResumedFrom string
}

// CreateSubflowRun makes the run of a subflow of run ns.Parent, which
// worker holds and which is Pending or Running: Pending, held by the
// same worker under the same token, without a lease of its own (it ends
// with its parent: endSubflows). It is a run of the parent's deployment
// and pool, and counts in neither's overlap nor concurrency.
func (s *Store) CreateSubflowRun(ctx context.Context, ns NewSubflow, worker string, now time.Time) (Run, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Run{}, err
	}
	defer tx.Rollback()
	var state, root string
	var holder sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT state, worker_id, CASE WHEN subflow_of = '' THEN id ELSE subflow_of END FROM runs WHERE id = ? AND deployment_id IS NOT NULL`,
		ns.Parent).Scan(&state, &holder, &root)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("%w %q", ErrNotFound, ns.Parent)
	}
	if err != nil {
		return Run{}, err
	}
	st, err := runtime.ParseState(state)
	if err != nil {
		return Run{}, err
	}
	if holder.String != worker || (st != runtime.Pending && st != runtime.Running) {
		return Run{}, fmt.Errorf("run %s (%s): %w", ns.Parent, st, ErrNotHeld)
	}
	var resumed any
	if ns.ResumedFrom != "" {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ? AND parent_task = ?
			AND parent_id = (SELECT resumed_from FROM runs WHERE id = ?)`, ns.ResumedFrom, ns.TaskRun, ns.Parent).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return Run{}, fmt.Errorf("run %s: %w %s of the run that run %s resumes", ns.ResumedFrom, ErrNotResumedChild, ns.TaskRun, ns.Parent)
		}
		if err != nil {
			return Run{}, err
		}
		resumed = ns.ResumedFrom
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, started_at, pid,
			scheduled_at, deployment_id, pool, bundle, created_at, crashes, parent_id, parent_task, worker_id, holder, subflow_of, resumed_from)
		SELECT ?, ?, file, file_sha256, ?, context, ?, 0, 0, ?, deployment_id, pool, bundle, ?, 0, id, ?, worker_id, holder, ?, ?
		FROM runs WHERE id = ?`,
		ns.ID, ns.Flow, jsonObject(ns.Parameters), runtime.Pending.String(), now.UnixNano(), now.UnixNano(), ns.TaskRun, root, resumed, ns.Parent)
	if err != nil {
		if isUniqueViolation(err) {
			return Run{}, fmt.Errorf("run %s: %w", ns.ID, ErrRunExists)
		}
		return Run{}, err
	}
	if err := tx.Commit(); err != nil {
		return Run{}, err
	}
	return s.GetRun(ctx, ns.ID)
}

// Heartbeat renews the worker's leases on the runs it holds, and says
// which of them are to be cancelled (Cancelling) and which it no longer
// holds (reaped, or ended by the server): it must stop those. It costs
// two statements however many runs the worker holds.
func (s *Store) Heartbeat(ctx context.Context, w Worker, runIDs []string, lease time.Duration, now time.Time) (cancel, gone []string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	if err := upsertWorker(ctx, tx, w, now); err != nil {
		return nil, nil, err
	}
	if len(runIDs) == 0 {
		return nil, nil, tx.Commit()
	}
	// One statement renews every lease the worker still holds and says
	// the state of each; a run it names that is not among them is gone.
	args := []any{now.Add(lease).UnixNano(), w.ID, w.Token, runtime.Pending.String(), runtime.Running.String(), runtime.Cancelling.String()}
	for _, id := range runIDs {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, `UPDATE runs SET lease_until = ? WHERE worker_id = ? AND holder = ? AND state IN (?, ?, ?)
		AND id IN (?`+strings.Repeat(", ?", len(runIDs)-1)+`) RETURNING id, state`, args...)
	if err != nil {
		return nil, nil, err
	}
	held := map[string]string{}
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			rows.Close()
			return nil, nil, err
		}
		held[id] = state
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, id := range runIDs {
		switch state, ok := held[id]; {
		case !ok:
			gone = append(gone, id)
		case state == runtime.Cancelling.String():
			cancel = append(cancel, id)
		}
	}
	return cancel, gone, tx.Commit()
}

// CancelRun asks a run to stop: a Scheduled run is Cancelled at once;
// a Pending or Running one becomes Cancelling, which its worker sees at
// its next heartbeat. A run already Cancelling is left as it is.
func (s *Store) CancelRun(ctx context.Context, runID, msg string, now time.Time) (runtime.State, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	st, err := s.cancelRun(ctx, tx, runID, msg, now)
	if err != nil {
		return st, err
	}
	if err := s.cancelChildren(ctx, tx, runID, now); err != nil {
		return 0, err
	}
	return st, tx.Commit()
}

// cancelRun is CancelRun's change of one run, in tx.
func (s *Store) cancelRun(ctx context.Context, tx *sql.Tx, runID, msg string, now time.Time) (runtime.State, error) {
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM runs WHERE id = ? AND deployment_id IS NOT NULL`, runID).Scan(&state); errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w %q", ErrNotFound, runID)
	} else if err != nil {
		return 0, err
	}
	st, err := runtime.ParseState(state)
	if err != nil {
		return 0, err
	}
	switch st {
	case runtime.Scheduled:
		if err := s.endRun(ctx, tx, runID, runtime.Cancelled, msg, now); err != nil {
			return 0, err
		}
		st = runtime.Cancelled
	case runtime.Pending, runtime.Running:
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, message = ? WHERE id = ?`, runtime.Cancelling.String(), msg, runID); err != nil {
			return 0, err
		}
		st = runtime.Cancelling
	case runtime.Cancelling:
	default:
		return st, fmt.Errorf("run %s is %s: %w", runID, st, ErrFinished)
	}
	return st, nil
}

// cancelChildren cancels the runs that run parent made (run_deployment
// in its flow) and that have not ended, and theirs, as Prefect cancels a
// cancelled parent's subflow runs: a parent being cancelled starts no
// more, and the runs it started have no one waiting for them.
func (s *Store) cancelChildren(ctx context.Context, tx *sql.Tx, parent string, now time.Time) error {
	for level, ids := 0, []string{parent}; len(ids) > 0; level++ {
		if level == 100 {
			return fmt.Errorf("run %s: runs made by runs made by it, %d levels deep", parent, level)
		}
		var next []string
		for _, id := range ids {
			kids, err := childServerRuns(ctx, tx, id)
			if err != nil {
				return err
			}
			for _, k := range kids {
				if _, err := s.cancelRun(ctx, tx, k, "cancelled with the run that made it, "+id, now); err != nil && !errors.Is(err, ErrFinished) {
					return err
				}
			}
			next = append(next, kids...)
		}
		ids = next
	}
	return nil
}

// childServerRuns are the ids of the server's runs that run parent made
// and that have not ended.
func childServerRuns(ctx context.Context, tx *sql.Tx, parent string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE parent_id = ? AND deployment_id IS NOT NULL AND state IN (`+unfinishedStates+`)`, parent)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Reaped is what one pass of the reaper did.
type Reaped struct {
	Requeued, Crashed, Cancelled []string // run ids
	Retries                      []string // the new runs of crashed ones
}

// Reap ends what lapsed at now: a Pending run whose worker did not start
// it goes back to Scheduled; a Running one is Crashed (and made again,
// as a new run, while its deployment's crash_retries allow); a
// Cancelling one is Cancelled. newID names the runs made again.
func (s *Store) Reap(ctx context.Context, now time.Time, newID func() string) (Reaped, error) {
	var out Reaped
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, state, worker_id FROM runs WHERE state IN (?, ?, ?) AND lease_until < ?`,
		runtime.Pending.String(), runtime.Running.String(), runtime.Cancelling.String(), now.UnixNano())
	if err != nil {
		return out, err
	}
	type lapsed struct{ id, state, worker string }
	var ls []lapsed
	for rows.Next() {
		var l lapsed
		var w sql.NullString
		if err := rows.Scan(&l.id, &l.state, &w); err != nil {
			rows.Close()
			return out, err
		}
		l.worker = w.String
		ls = append(ls, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}
	for _, l := range ls {
		switch l.state {
		case runtime.Pending.String():
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, worker_id = NULL, holder = '', lease_until = NULL WHERE id = ?`,
				runtime.Scheduled.String(), l.id); err != nil {
				return out, err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM slots WHERE run_id = ?`, l.id); err != nil {
				return out, err
			}
			// Its run tokens go with the claim (the next claim revokes none).
			if err := revokeRunTokens(ctx, tx, l.id, now); err != nil {
				return out, err
			}
			out.Requeued = append(out.Requeued, l.id)
		case runtime.Running.String():
			msg := fmt.Sprintf("crashed: worker %s stopped renewing its lease", l.worker)
			if err := s.crashServerRun(ctx, tx, l.id, msg, now); err != nil {
				return out, err
			}
			out.Crashed = append(out.Crashed, l.id)
			if id, err := retryCrashed(ctx, tx, l.id, newID, now); err != nil {
				return out, err
			} else if id != "" {
				out.Retries = append(out.Retries, id)
			}
		default:
			msg := fmt.Sprintf("cancelled by the server: worker %s did not confirm within its lease", l.worker)
			if err := crashRecordsAt(ctx, tx, l.id, msg, now); err != nil {
				return out, err
			}
			if err := s.endRun(ctx, tx, l.id, runtime.Cancelled, msg, now); err != nil {
				return out, err
			}
			out.Cancelled = append(out.Cancelled, l.id)
		}
	}
	return out, tx.Commit()
}

// crashServerRun marks a run and its unfinished task runs Crashed.
func (s *Store) crashServerRun(ctx context.Context, tx *sql.Tx, id, msg string, now time.Time) error {
	if err := crashRecordsAt(ctx, tx, id, msg, now); err != nil {
		return err
	}
	return s.endRun(ctx, tx, id, runtime.Crashed, msg, now)
}

// crashRecordsAt ends the task runs a run left unfinished, if it
// started.
func crashRecordsAt(ctx context.Context, tx *sql.Tx, id, msg string, now time.Time) error {
	var started int64
	if err := tx.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, id).Scan(&started); err != nil {
		return err
	}
	if started == 0 {
		return nil
	}
	rr, err := readRun(ctx, tx, id, started, nil)
	if err != nil {
		return err
	}
	return crashRecords(ctx, tx, id, started, rr, msg, now.UnixNano())
}

// retryCrashed makes a crashed run again, as a new Scheduled run due now,
// if its deployment allows another; it returns the new run's id, or "".
func retryCrashed(ctx context.Context, tx *sql.Tx, id string, newID func() string, now time.Time) (string, error) {
	var crashes, allowed int
	err := tx.QueryRowContext(ctx, `SELECT r.crashes, d.crash_retries FROM runs AS r JOIN deployments AS d ON d.id = r.deployment_id WHERE r.id = ?`, id).
		Scan(&crashes, &allowed)
	if errors.Is(err, sql.ErrNoRows) || crashes >= allowed {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	nid := newID()
	_, err = tx.ExecContext(ctx, `INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, message, started_at, pid,
			scheduled_at, deployment_id, pool, bundle, created_at, crashes, resumed_from)
		SELECT ?, flow, file, file_sha256, parameters, context, ?, ?, 0, 0, ?, deployment_id, pool, bundle, ?, crashes + 1, NULL
		FROM runs WHERE id = ?`, nid, runtime.Scheduled.String(), "made again: run "+id+" crashed",
		now.UnixNano(), now.UnixNano(), id)
	return nid, err
}

// Resumable are the final states of a run that ResumeRun resumes.
var Resumable = []runtime.State{runtime.Failed, runtime.Cancelled, runtime.Crashed}

// ResumeRun makes a new run, Scheduled and due now, that resumes the
// server's run id (SPEC §2's resume, as `wfsh run --resume` does
// locally): the same deployment, pool, bundle, file, parameters and
// context, with resumed_from set; its worker's child takes the task runs
// that succeeded in id instead of running them. Only a run that ended
// Failed, Cancelled or Crashed is resumed (else an error wrapping
// ErrNotResumable); a run whose deployment is gone is ErrNoSuch.
func (s *Store) ResumeRun(ctx context.Context, id, newID string, now time.Time) (Run, error) {
	old, err := s.GetRun(ctx, id)
	if err != nil {
		return Run{}, err
	}
	if old.Server == nil {
		return Run{}, fmt.Errorf("run %s is not a server's run: %w", old.ID, ErrNoSuch)
	}
	if !slices.Contains(Resumable, old.State) {
		return Run{}, fmt.Errorf("run %s is %s: %w", old.ID, old.State, ErrNotResumable)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, message, started_at, pid,
			scheduled_at, deployment_id, pool, bundle, created_at, crashes, resumed_from)
		SELECT ?, r.flow, r.file, r.file_sha256, r.parameters, r.context, ?, ?, 0, 0, ?, r.deployment_id, r.pool, r.bundle, ?, 0, r.id
		FROM runs AS r JOIN deployments AS d ON d.id = r.deployment_id WHERE r.id = ?`,
		newID, runtime.Scheduled.String(), "resumes run "+old.ID, now.UnixNano(), now.UnixNano(), old.ID)
	if err != nil {
		return Run{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return Run{}, err
	} else if n == 0 {
		return Run{}, fmt.Errorf("run %s: its deployment was deleted: %w", old.ID, ErrNoSuch)
	}
	return s.GetRun(ctx, newID)
}

// LeadFor takes or renews the lease of the named singleton for holder
// until now+ttl; true when holder has it. A lease that lapsed goes to
// whoever asks first.
func (s *Store) LeadFor(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO leader (name, holder, until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
		WHERE leader.holder = excluded.holder OR leader.until < ?`,
		name, holder, now.Add(ttl).UnixNano(), now.UnixNano())
	if err != nil {
		return false, err
	}
	var h string
	if err := s.db.QueryRowContext(ctx, `SELECT holder FROM leader WHERE name = ?`, name).Scan(&h); err != nil {
		return false, err
	}
	return h == holder, nil
}

// ServerRunFilter selects a server's runs, newest first, a page at a
// time: After is the last run of the page before (keyset pagination).
// Since and Until bound the time a run was made (created_at, the
// order of the list), Until excluded. Deployments, when not nil, are
// the deployments whose runs it lists (a tag's): none selects none.
type ServerRunFilter struct {
	State, Flow, Deployment string
	Parent                  string // the run that made them
	Deployments             []string
	Since, Until            time.Time
	Limit                   int
	After                   *Run
}

// ListServerRuns lists the runs of deployments f selects. Each page is
// an index range: over several deployments, the newest of each are
// merged, one index range each.
func (s *Store) ListServerRuns(ctx context.Context, f ServerRunFilter) ([]Run, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if f.Deployments == nil {
		return s.listServerRuns(ctx, f, limit)
	}
	var all []Run
	for _, d := range f.Deployments {
		if f.Deployment != "" && d != f.Deployment {
			continue
		}
		one := f
		one.Deployment = d
		runs, err := s.listServerRuns(ctx, one, limit)
		if err != nil {
			return nil, err
		}
		all = append(all, runs...)
	}
	slices.SortFunc(all, func(a, b Run) int {
		if c := b.Server.CreatedAt.Compare(a.Server.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return all[:min(len(all), limit)], nil
}

func (s *Store) listServerRuns(ctx context.Context, f ServerRunFilter, limit int) ([]Run, error) {
	q, args, err := runsWhere(`SELECT `+runColumns+` FROM runs WHERE deployment_id IS NOT NULL`, f)
	if err != nil {
		return nil, err
	}
	if a := f.After; a != nil && a.Server != nil {
		c := a.Server.CreatedAt.UnixNano()
		q += ` AND (created_at, id) < (?, ?)` // a row value: an index range, not a scan
		args = append(args, c, a.ID)
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, limit)
	return s.queryRuns(ctx, q, args...)
}

// runsWhere adds f's conditions but Deployments and After to q.
func runsWhere(q string, f ServerRunFilter) (string, []any, error) {
	var args []any
	if f.State != "" {
		st, err := ParseState(f.State)
		if err != nil {
			return "", nil, err
		}
		q += ` AND state = ?`
		args = append(args, st.String())
	}
	if f.Flow != "" {
		q += ` AND flow = ?`
		args = append(args, f.Flow)
	}
	if f.Deployment != "" {
		q += ` AND deployment_id = ?`
		args = append(args, f.Deployment)
	}
	if f.Parent != "" {
		q += ` AND parent_id = ?`
		args = append(args, f.Parent)
	}
	if !f.Since.IsZero() {
		q += ` AND created_at >= ?`
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		q += ` AND created_at < ?`
		args = append(args, f.Until.UnixNano())
	}
	return q, args, nil
}

// OldestUnfinished is when the oldest run f selects (in its Since and
// Until) that is not final was made, or the zero time if there is none:
// the runs made before it are final, and their counts will not change.
// Few runs are unfinished: it reads a short range of the (state,
// created_at) index per unfinished state.
func (s *Store) OldestUnfinished(ctx context.Context, f ServerRunFilter) (time.Time, error) {
	// One min() per state, each the first entry of an index range: a
	// planner given state IN (...) may read the time range instead.
	var parts []string
	var args []any
	for i := range runtime.NumStates {
		st := runtime.State(i)
		if st.Finished() {
			continue
		}
		q, more, err := runsWhere(`SELECT min(created_at) AS m FROM runs WHERE state = ?`, f)
		if err != nil {
			return time.Time{}, err
		}
		q, more = inDeployments(q, more, f.Deployments)
		parts = append(parts, q)
		args = append(append(args, st.String()), more...)
	}
	var at sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT min(m) FROM (`+strings.Join(parts, " UNION ALL ")+`) AS u`, args...).Scan(&at)
	return nullTime(at), err
}

// inDeployments adds to q the condition that a run is of one of ds, if
// ds is not nil (none selects none).
func inDeployments(q string, args []any, ds []string) (string, []any) {
	switch {
	case ds == nil:
		return q, args
	case len(ds) == 0:
		return q + ` AND 1 = 0`, args
	}
	q += ` AND deployment_id IN (?` + strings.Repeat(", ?", len(ds)-1) + `)`
	for _, d := range ds {
		args = append(args, d)
	}
	return q, args
}

// RunCount is how many runs of a state were made in a bucket of time.
type RunCount struct {
	Bucket int
	State  runtime.State
	Count  int
}

// CountRuns counts the runs f selects (its Since and Until required),
// by state and by bucket of step from Since: the chart of the runs
// page. It reads the index of (state, created_at) alone, a range per
// state, not the runs.
func (s *Store) CountRuns(ctx context.Context, f ServerRunFilter, step time.Duration) ([]RunCount, error) {
	if f.Since.IsZero() || f.Until.IsZero() || step <= 0 {
		return nil, fmt.Errorf("counting runs needs a time range and a step")
	}
	states := make([]any, 0, runtime.NumStates)
	marks := make([]string, 0, runtime.NumStates)
	for i := range runtime.NumStates {
		states = append(states, runtime.State(i).String())
		marks = append(marks, "?")
	}
	q := `SELECT (created_at - ?) / ?, state, count(*) FROM runs WHERE state IN (` + strings.Join(marks, ", ") + `)`
	args := append([]any{f.Since.UnixNano(), int64(step)}, states...)
	q, more, err := runsWhere(q, f)
	if err != nil {
		return nil, err
	}
	q, args = inDeployments(q, append(args, more...), f.Deployments)
	q += ` GROUP BY 1, state`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunCount
	for rows.Next() {
		var c RunCount
		var st string
		var b int64
		if err := rows.Scan(&b, &st, &c.Count); err != nil {
			return nil, err
		}
		if c.State, err = runtime.ParseState(st); err != nil {
			return nil, err
		}
		c.Bucket = int(b)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DropMissed applies catch-up to the runs a deployment's schedules made
// that were due before `before` and never claimed (the servers were down
// at their time): all of them are ended Cancelled with msg, but the
// newest of a schedule when keep(scheduleID, its time) says so. It
// returns the ids it ended.
func (s *Store) DropMissed(ctx context.Context, deployment string, before, now time.Time, msg string,
	keep func(scheduleID string, newest time.Time) bool) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, schedule_id, scheduled_at FROM runs WHERE deployment_id = ? AND state = ?
		AND schedule_key IS NOT NULL AND scheduled_at < ? ORDER BY schedule_id, scheduled_at DESC, id`,
		deployment, runtime.Scheduled.String(), before.UnixNano())
	if err != nil {
		return nil, err
	}
	var drop []string
	newest := map[string]bool{}
	for rows.Next() {
		var id, sid string
		var at int64
		if err := rows.Scan(&id, &sid, &at); err != nil {
			rows.Close()
			return nil, err
		}
		if !newest[sid] {
			newest[sid] = true
			if keep(sid, unixNano(at)) {
				continue
			}
		}
		drop = append(drop, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range drop {
		if err := s.endRun(ctx, tx, id, runtime.Cancelled, msg, now); err != nil {
			return nil, err
		}
	}
	return drop, tx.Commit()
}

// CrashHeld ends a run its worker holds as Crashed, with its unfinished
// task runs: the worker saw the run's process end without a final
// state. A run being cancelled (its process killed after its grace) ends
// Cancelled. A run already ended is left as it is. A crashed run is made
// again while its deployment's crash_retries allow (as the reaper does);
// retry is the new run's id, or "".
func (s *Store) CrashHeld(ctx context.Context, runID, worker, msg string, now time.Time) (retry string, err error) {
	return s.EndHeld(ctx, runID, worker, runtime.Crashed, msg, now, runtime.NewRunID)
}

// EndHeld ends a run its worker holds, whose process ended without its
// final state, as st: Crashed (CrashHeld), or Failed when the worker
// knows why it ended (a Job killed at its deadline: the flow timed out).
// Its unfinished task runs are ended with msg. A run that ends Crashed is
// made again, named by newID, while its deployment's crash_retries allow:
// retry is the new run's id, or "".
func (s *Store) EndHeld(ctx context.Context, runID, worker string, st runtime.State, msg string, now time.Time,
	newID func() string) (retry string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var state string
	var holder sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT state, worker_id FROM runs WHERE id = ?`, runID).Scan(&state, &holder); errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w %q", ErrNotFound, runID)
	} else if err != nil {
		return "", err
	}
	if holder.String != worker {
		return "", fmt.Errorf("run %s: %w", runID, ErrNotHeld)
	}
	was, err := runtime.ParseState(state)
	if err != nil || was.Finished() {
		return "", err
	}
	if was == runtime.Cancelling {
		// Asked to stop, and stopped (killed after its grace): Cancelled.
		st, msg = runtime.Cancelled, "cancelled: "+msg
	}
	if err := crashRecordsAt(ctx, tx, runID, msg, now); err != nil {
		return "", err
	}
	if err := s.endRun(ctx, tx, runID, st, msg, now); err != nil {
		return "", err
	}
	if st == runtime.Crashed {
		if retry, err = retryCrashed(ctx, tx, runID, newID, now); err != nil {
			return "", err
		}
	}
	return retry, tx.Commit()
}
