package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// Deployment is a flow a server runs: FLOW/NAME, the bundle its file is
// in, the pool that runs it, its parameters and schedules.
type Deployment struct {
	ID   string `json:"id"`
	Flow string `json:"flow"`
	Name string `json:"name"`
	// File is the flow file's path inside the bundle.
	File   string `json:"file"`
	Bundle string `json:"bundle"`
	Pool   string `json:"pool"`
	// Parameters are the defaults a run gets (a JSON object);
	// ParamSchema the flow's parameters, for checking and for forms.
	Parameters  json.RawMessage `json:"parameters"`
	ParamSchema json.RawMessage `json:"param_schema"`
	// Schedules are the schedules' specs as the flow file gave them.
	Schedules json.RawMessage `json:"schedules"`
	Catchup   string          `json:"catchup,omitempty"`
	Overlap   string          `json:"overlap,omitempty"`
	// LateAfter: a run not started this long after its time is Late.
	LateAfter    time.Duration `json:"late_after,omitempty"`
	Tags         []string      `json:"tags"`
	Concurrency  int           `json:"concurrency,omitempty"`
	CrashRetries int           `json:"crash_retries,omitempty"`
	Paused       bool          `json:"paused"`
	// JobVariables override its kubernetes pool's Job template for its
	// runs (a JSON object; the pool says which keys).
	JobVariables json.RawMessage `json:"job_variables,omitempty"`
	// Timeout is the flow's timeout= (0: none): its runs' Jobs get a
	// deadline from it.
	Timeout   time.Duration `json:"timeout,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// Ref is FLOW/NAME.
func (d *Deployment) Ref() string { return d.Flow + "/" + d.Name }

const deploymentColumns = `id, flow, name, file, bundle, pool, parameters, param_schema, schedules, catchup, overlap,
	late_after, tags, concurrency, crash_retries, paused, job_variables, timeout, created_at, updated_at`

func scanDeployment(row interface{ Scan(...any) error }) (Deployment, error) {
	var d Deployment
	var params, schema, scheds, tags, jobVars string
	var late, timeout, created, updated int64
	var paused bool
	if err := row.Scan(&d.ID, &d.Flow, &d.Name, &d.File, &d.Bundle, &d.Pool, &params, &schema, &scheds, &d.Catchup, &d.Overlap,
		&late, &tags, &d.Concurrency, &d.CrashRetries, &paused, &jobVars, &timeout, &created, &updated); err != nil {
		return d, err
	}
	d.Timeout = time.Duration(timeout)
	d.Parameters, d.ParamSchema, d.Schedules = json.RawMessage(params), json.RawMessage(schema), json.RawMessage(scheds)
	if jobVars != "{}" {
		d.JobVariables = json.RawMessage(jobVars)
	}
	d.LateAfter, d.Paused = time.Duration(late), paused
	d.CreatedAt, d.UpdatedAt = unixNano(created), unixNano(updated)
	if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
		return d, fmt.Errorf("deployment %s: tags: %w", d.ID, err)
	}
	return d, nil
}

// PutDeployment creates the deployment FLOW/NAME, or updates it (keeping
// its id and pause). When an update changes what its runs would be, the
// upcoming runs its schedules made are dropped: the scheduler makes them
// again from the new schedules. The pool is made, of type process, if
// there is none of that name.
func (s *Store) PutDeployment(ctx context.Context, d Deployment, now time.Time) (Deployment, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return d, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO pools (name, type, created_at) VALUES (?, 'process', ?) ON CONFLICT DO NOTHING`,
		d.Pool, now.UnixNano()); err != nil {
		return d, err
	}
	tags, _ := json.Marshal(orEmpty(d.Tags))
	var id string
	err = tx.QueryRowContext(ctx, `SELECT id FROM deployments WHERE flow = ? AND name = ?`, d.Flow, d.Name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO deployments (`+deploymentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
			d.ID, d.Flow, d.Name, d.File, d.Bundle, d.Pool, jsonObject(d.Parameters), jsonArray(d.ParamSchema), jsonArray(d.Schedules),
			d.Catchup, d.Overlap, int64(d.LateAfter), string(tags), d.Concurrency, d.CrashRetries, jsonObject(d.JobVariables),
			int64(d.Timeout), now.UnixNano(), now.UnixNano())
		id = d.ID
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE deployments SET file = ?, bundle = ?, pool = ?, parameters = ?, param_schema = ?,
				schedules = ?, catchup = ?, overlap = ?, late_after = ?, tags = ?, concurrency = ?, crash_retries = ?, job_variables = ?,
				timeout = ?, updated_at = ?
			WHERE id = ?`,
			d.File, d.Bundle, d.Pool, jsonObject(d.Parameters), jsonArray(d.ParamSchema), jsonArray(d.Schedules),
			d.Catchup, d.Overlap, int64(d.LateAfter), string(tags), d.Concurrency, d.CrashRetries, jsonObject(d.JobVariables),
			int64(d.Timeout), now.UnixNano(), id)
		if err == nil {
			err = dropUpcoming(ctx, tx, id, now)
		}
	}
	if err != nil {
		return d, err
	}
	if err := tx.Commit(); err != nil {
		return d, err
	}
	return s.GetDeployment(ctx, id)
}

// dropUpcoming deletes the runs a deployment's schedules made that are
// not yet due (and not yet claimed).
func dropUpcoming(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE deployment_id = ? AND state = ? AND schedule_key IS NOT NULL AND scheduled_at > ?`,
		id, runtime.Scheduled.String(), now.UnixNano())
	return err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func jsonArray(b json.RawMessage) string {
	if len(b) == 0 {
		return "[]"
	}
	return string(b)
}

// GetDeployment returns the deployment whose id is ref, or whose
// FLOW/NAME it is.
func (s *Store) GetDeployment(ctx context.Context, ref string) (Deployment, error) {
	q, args := `SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`, []any{ref}
	if flow, name, ok := strings.Cut(ref, "/"); ok {
		q, args = `SELECT `+deploymentColumns+` FROM deployments WHERE flow = ? AND name = ?`, []any{flow, name}
	}
	d, err := scanDeployment(s.db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("deployment %q: %w", ref, ErrNoSuch)
	}
	return d, err
}

// ListDeployments lists the deployments by FLOW/NAME.
func (s *Store) ListDeployments(ctx context.Context) ([]Deployment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deploymentColumns+` FROM deployments ORDER BY flow, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PauseDeployment pauses or resumes a deployment; pausing drops its
// upcoming scheduled runs.
func (s *Store) PauseDeployment(ctx context.Context, ref string, paused bool, now time.Time) (Deployment, error) {
	d, err := s.GetDeployment(ctx, ref)
	if err != nil {
		return d, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return d, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE deployments SET paused = ?, updated_at = ? WHERE id = ?`, paused, now.UnixNano(), d.ID); err != nil {
		return d, err
	}
	if paused {
		if err := dropUpcoming(ctx, tx, d.ID, now); err != nil {
			return d, err
		}
	}
	if err := tx.Commit(); err != nil {
		return d, err
	}
	return s.GetDeployment(ctx, d.ID)
}

// DeleteDeployment deletes a deployment and its runs not yet claimed;
// runs that ran stay, with their records.
func (s *Store) DeleteDeployment(ctx context.Context, ref string) error {
	d, err := s.GetDeployment(ctx, ref)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE deployment_id = ? AND state = ?`, d.ID, runtime.Scheduled.String()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM deployments WHERE id = ?`, d.ID); err != nil {
		return err
	}
	return tx.Commit()
}

// LastScheduledOf is the newest scheduled time of a deployment's runs
// made by the schedule sid, zero if none: where the scheduler carries on.
func (s *Store) LastScheduledOf(ctx context.Context, deployment, sid string) (time.Time, error) {
	var at sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(scheduled_at) FROM runs WHERE deployment_id = ? AND schedule_id = ?`, deployment, sid).Scan(&at)
	return nullTime(at), err
}

// PutBundle stores a bundle by its hash; false if it was there already.
func (s *Store) PutBundle(ctx context.Context, hash string, data []byte, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO bundles (hash, size, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		hash, len(data), data, now.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// HasBundle reports whether the bundle is stored.
func (s *Store) HasBundle(ctx context.Context, hash string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM bundles WHERE hash = ?`, hash).Scan(&n)
	return n > 0, err
}

// Bundle returns a stored bundle's bytes.
func (s *Store) Bundle(ctx context.Context, hash string) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM bundles WHERE hash = ?`, hash).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("bundle %s: %w", hash, ErrNoSuch)
	}
	return b, err
}

// Pool is a work pool: the workers of a pool run its deployments' runs.
type Pool struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // process or kubernetes
	Paused      bool   `json:"paused"`
	Concurrency int    `json:"concurrency,omitempty"` // runs at once in the pool; 0: no limit
	// JobTemplate is a kubernetes pool's base Job (a batch/v1 Job as
	// JSON), empty when its workers use their own (--job-template);
	// JobVariables the names of the job variables its deployments may
	// set (server/jobvars.go).
	JobTemplate  json.RawMessage `json:"job_template,omitempty"`
	JobVariables []string        `json:"job_variables,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
}

const poolColumns = `name, type, paused, concurrency, job_template, job_variables, created_at`

func scanPool(row interface{ Scan(...any) error }) (Pool, error) {
	var p Pool
	var created int64
	var tmpl, vars string
	if err := row.Scan(&p.Name, &p.Type, &p.Paused, &p.Concurrency, &tmpl, &vars, &created); err != nil {
		return p, err
	}
	p.CreatedAt = unixNano(created)
	if tmpl != "" {
		p.JobTemplate = json.RawMessage(tmpl)
	}
	if err := json.Unmarshal([]byte(vars), &p.JobVariables); err != nil {
		return p, fmt.Errorf("pool %s: job variables: %w", p.Name, err)
	}
	return p, nil
}

// PutPool creates a pool, or sets its type, limit, Job template and job
// variables.
func (s *Store) PutPool(ctx context.Context, p Pool, now time.Time) error {
	vars, _ := json.Marshal(orEmpty(p.JobVariables))
	_, err := s.db.ExecContext(ctx, `INSERT INTO pools (name, type, concurrency, job_template, job_variables, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET type = excluded.type, concurrency = excluded.concurrency,
			job_template = excluded.job_template, job_variables = excluded.job_variables`,
		p.Name, p.Type, p.Concurrency, string(p.JobTemplate), string(vars), now.UnixNano())
	return err
}

// GetPool returns the pool of that name.
func (s *Store) GetPool(ctx context.Context, name string) (Pool, error) {
	p, err := scanPool(s.db.QueryRowContext(ctx, `SELECT `+poolColumns+` FROM pools WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("pool %q: %w", name, ErrNoSuch)
	}
	return p, err
}

// PausePool pauses or resumes a pool: its workers claim nothing while it
// is paused.
func (s *Store) PausePool(ctx context.Context, name string, paused bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE pools SET paused = ? WHERE name = ?`, paused, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("pool %q: %w", name, ErrNoSuch)
	}
	return nil
}

// ListPools lists the pools by name.
func (s *Store) ListPools(ctx context.Context) ([]Pool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+poolColumns+` FROM pools ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Pool
	for rows.Next() {
		p, err := scanPool(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Worker is a worker process as its heartbeats tell it.
type Worker struct {
	ID          string    `json:"id"`
	Pool        string    `json:"pool"`
	Name        string    `json:"name"`
	Slots       int       `json:"slots"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	Draining    bool      `json:"draining"`
	// Running is how many runs it holds (in lists only).
	Running int `json:"running"`
	// Token is the id of the token it speaks with: the holder of the
	// runs it claims (not kept with the worker).
	Token string `json:"-"`
}

func upsertWorker(ctx context.Context, tx *sql.Tx, w Worker, now time.Time) error {
	started := w.StartedAt
	if started.IsZero() {
		started = now
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO workers (id, pool, name, slots, started_at, heartbeat_at, draining) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, slots = excluded.slots, draining = excluded.draining`,
		w.ID, w.Pool, w.Name, w.Slots, started.UnixNano(), now.UnixNano(), w.Draining)
	return err
}

// ListWorkers lists the workers heard from since `since`, with the runs
// each holds.
func (s *Store) ListWorkers(ctx context.Context, since time.Time) ([]Worker, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT w.id, w.pool, w.name, w.slots, w.started_at, w.heartbeat_at, w.draining,
			(SELECT count(*) FROM runs AS r WHERE r.worker_id = w.id AND r.subflow_of = '' AND r.state IN (?, ?, ?))
		FROM workers AS w WHERE w.heartbeat_at >= ? ORDER BY w.pool, w.name, w.id`,
		runtime.Pending.String(), runtime.Running.String(), runtime.Cancelling.String(), since.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Worker
	for rows.Next() {
		var w Worker
		var started, hb int64
		if err := rows.Scan(&w.ID, &w.Pool, &w.Name, &w.Slots, &started, &hb, &w.Draining, &w.Running); err != nil {
			return nil, err
		}
		w.StartedAt, w.HeartbeatAt = unixNano(started), unixNano(hb)
		out = append(out, w)
	}
	return out, rows.Err()
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// NextDue is the time the next Scheduled run of a pool falls due, zero
// if none is waiting.
func (s *Store) NextDue(ctx context.Context, pool string) (time.Time, error) {
	var at sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT min(scheduled_at) FROM runs WHERE pool = ? AND state = ?`, pool, runtime.Scheduled.String()).Scan(&at)
	return nullTime(at), err
}

// FillRuns inserts n finished runs of a deployment at once, a second
// apart from start, one in ten Failed: the history a load test or a
// benchmark of the API needs (a million runs in seconds).
func (s *Store) FillRuns(ctx context.Context, d *Deployment, n int, start time.Time) error {
	// t is the run's time: start + n seconds, in 64-bit arithmetic on
	// both databases.
	_, err := s.db.ExecContext(ctx, `WITH RECURSIVE seq(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n + 1 FROM seq WHERE n < ?),
		times(n, t) AS (SELECT n, CAST(? AS BIGINT) + n * 1000000000 FROM seq)
		INSERT INTO runs (id, flow, file, file_sha256, parameters, context, state, started_at, finished_at, pid,
			scheduled_at, deployment_id, pool, bundle, created_at)
		SELECT 'fill-' || n, ?, ?, ?, '{}', '{}', CASE WHEN n % 10 = 0 THEN ? ELSE ? END,
			t, t + 500000000, 0, t, ?, ?, ?, t
		FROM times`, n, start.UnixNano(), d.Flow, d.File, d.Bundle, runtime.Failed.String(), runtime.Success.String(),
		d.ID, d.Pool, d.Bundle)
	if err == nil && s.pg {
		// The planner's statistics of the new rows, as autovacuum
		// would gather them a minute later: without them PostgreSQL
		// plans a page of a million runs as of an empty table.
		_, err = s.db.ExecContext(ctx, `ANALYZE runs`)
	}
	return err
}
