package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// migrations[i] brings the schema from version i to version i+1. Never edit
// one that has shipped: add the next. On PostgreSQL a new database starts
// at version 4 (postgresBaseline); from migration 5 on, each runs on both
// databases and is written in what both speak: types TEXT, INTEGER and
// BLOB only (postgresDDL maps them), no AUTOINCREMENT nor WITHOUT ROWID,
// no SQLite JSON function, `?` placeholders, ON CONFLICT for upserts.
var migrations = []string{
	// 1: runs, their task runs and their log lines. Enums (states, levels,
	// kinds) are stored by name; times are Unix nanoseconds. Mapped
	// children are in map_runs, a JSON array of them per task and write
	// batch: see chunk.
	`CREATE TABLE runs (
		id          TEXT PRIMARY KEY,
		flow        TEXT NOT NULL,
		file        TEXT NOT NULL,
		file_sha256 TEXT NOT NULL,
		parameters  TEXT NOT NULL DEFAULT '{}',
		context     TEXT NOT NULL DEFAULT '{}',
		state       TEXT NOT NULL,
		message     TEXT NOT NULL DEFAULT '',
		started_at  INTEGER NOT NULL,
		finished_at INTEGER,
		pid         INTEGER NOT NULL
	);
	CREATE INDEX runs_started ON runs (started_at);
	CREATE INDEX runs_flow ON runs (flow, started_at);
	CREATE TABLE task_runs (
		run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		name        TEXT NOT NULL,
		task        TEXT NOT NULL,
		map_index   INTEGER NOT NULL,
		state       TEXT NOT NULL,
		attempts    INTEGER NOT NULL,
		message     TEXT NOT NULL DEFAULT '',
		started_at  INTEGER,
		finished_at INTEGER,
		result      TEXT,
		seq         INTEGER NOT NULL,
		PRIMARY KEY (run_id, name)
	) WITHOUT ROWID;
	CREATE TABLE map_runs (
		run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		task     TEXT NOT NULL,
		seq      INTEGER NOT NULL,
		children TEXT NOT NULL,
		PRIMARY KEY (run_id, task, seq)
	) WITHOUT ROWID;
	CREATE TABLE logs (
		run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		seq       INTEGER NOT NULL,
		time      INTEGER NOT NULL,
		kind      TEXT NOT NULL,
		task_run  TEXT NOT NULL DEFAULT '',
		map_index INTEGER NOT NULL DEFAULT -1,
		attempt   INTEGER NOT NULL DEFAULT 0,
		state     TEXT NOT NULL DEFAULT '',
		level     TEXT NOT NULL DEFAULT '',
		msg       TEXT NOT NULL DEFAULT '',
		children  INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (run_id, seq)
	) WITHOUT ROWID;`,

	// 2: a run's task runs and log lines are written as one row per write
	// batch (table chunks, see records.go), not one row each: rows cost
	// more than the runs they record. The rows of version 1 move into
	// chunks: task_runs and map_runs as records without start and end
	// sequence numbers, so that their log lines, all in logs, are not
	// made twice. Runs keep their graph (for resume: table dags, by hash,
	// as most runs of a flow share one) and the run they resume; the
	// cache holds results by key.
	`CREATE TABLE chunks (
		run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		seq      INTEGER NOT NULL,
		tasks    TEXT NOT NULL,
		children TEXT NOT NULL,
		logs     TEXT NOT NULL,
		PRIMARY KEY (run_id, seq)
	);
	INSERT INTO chunks (run_id, seq, tasks, children, logs)
	SELECT id, 0,
		(SELECT json_group_array(json_array(name, task, 'task', state, attempts, message,
			(t.started_at - runs.started_at) / 1000, (t.finished_at - runs.started_at) / 1000,
			0, 0, json(result), '')) FROM task_runs AS t WHERE run_id = runs.id),
		'{}',
		(SELECT json_group_array(json_array(seq, time, kind, task_run, map_index, attempt, state, level, msg, children))
			FROM logs WHERE run_id = runs.id)
	FROM runs;
	INSERT INTO chunks (run_id, seq, tasks, children, logs)
	SELECT m.run_id, m.seq, '[]',
		json_object(m.task, json((SELECT json_group_array(json_array(c.value->>0, c.value->>1, c.value->>2, c.value->>3,
			(c.value->>4 - r.started_at) / 1000, (c.value->>5 - r.started_at) / 1000, c.value->6, ''))
			FROM json_each(m.children) AS c))),
		'[]'
	FROM map_runs AS m JOIN runs AS r ON r.id = m.run_id;
	DROP TABLE task_runs;
	DROP TABLE map_runs;
	DROP TABLE logs;
	CREATE TABLE dags (
		hash TEXT PRIMARY KEY,
		dag  TEXT NOT NULL
	);
	ALTER TABLE runs ADD COLUMN dag TEXT REFERENCES dags (hash);
	ALTER TABLE runs ADD COLUMN resumed_from TEXT;
	CREATE INDEX runs_state ON runs (state);
	CREATE TABLE cache (
		key        TEXT PRIMARY KEY,
		task       TEXT NOT NULL,
		flow       TEXT NOT NULL,
		run_id     TEXT NOT NULL,
		task_run   TEXT NOT NULL,
		result     TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER
	);
	CREATE INDEX cache_task ON cache (task, created_at);`,

	// 3: a chunk's log entries are stored compressed, in logs_z (raw
	// DEFLATE of the JSON array; logs is then ''): a log took 1.7 times
	// its size as text. The chunks of older versions keep theirs in logs,
	// and are read as they are. Runs are pruned by age (runs_started) and
	// the cache by expiry.
	`ALTER TABLE chunks ADD COLUMN logs_z BLOB;
	CREATE INDEX cache_expires ON cache (expires_at);`,

	// 4: runs made by a schedule keep their scheduled time, the id of
	// their schedule and their key (schedule.Key), NULL for other runs.
	// The key is unique: one scheduled time gives one run, however many
	// schedulers race for it. late is 1 for a run that started more than
	// its flow's late_after past its scheduled time.
	`ALTER TABLE runs ADD COLUMN scheduled_at INTEGER;
	ALTER TABLE runs ADD COLUMN schedule_id TEXT;
	ALTER TABLE runs ADD COLUMN schedule_key TEXT;
	ALTER TABLE runs ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
	CREATE UNIQUE INDEX runs_schedule_key ON runs (schedule_key);
	CREATE INDEX runs_schedule ON runs (flow, schedule_id, scheduled_at);`,

	// 5: the server (docs/server.md). A run a server holds has its
	// deployment, pool and bundle; a worker that claimed it holds it
	// until lease_until. started_at is 0 until it starts. Concurrency
	// limits are rows of slots, one per run holding a slot of a scope
	// ("pool:P", "deployment:ID", "tag:T"), inserted and deleted in the
	// transactions that move the run: never a counter. leader holds the
	// lease of the server that runs the singleton loops. Written in the
	// SQL that SQLite and PostgreSQL share.
	`ALTER TABLE runs ADD COLUMN deployment_id TEXT;
	ALTER TABLE runs ADD COLUMN pool TEXT;
	ALTER TABLE runs ADD COLUMN bundle TEXT;
	ALTER TABLE runs ADD COLUMN worker_id TEXT;
	ALTER TABLE runs ADD COLUMN lease_until INTEGER;
	ALTER TABLE runs ADD COLUMN created_at INTEGER;
	ALTER TABLE runs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX runs_due ON runs (pool, state, scheduled_at);
	CREATE INDEX runs_deployment ON runs (deployment_id, scheduled_at);
	CREATE INDEX runs_lease ON runs (state, lease_until);
	CREATE INDEX runs_created ON runs (created_at, id);
	CREATE TABLE bundles (
		hash       TEXT PRIMARY KEY,
		size       INTEGER NOT NULL,
		data       BLOB NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE pools (
		name        TEXT PRIMARY KEY,
		type        TEXT NOT NULL,
		paused      INTEGER NOT NULL DEFAULT 0,
		concurrency INTEGER NOT NULL DEFAULT 0,
		created_at  INTEGER NOT NULL
	);
	CREATE TABLE deployments (
		id            TEXT PRIMARY KEY,
		flow          TEXT NOT NULL,
		name          TEXT NOT NULL,
		file          TEXT NOT NULL,
		bundle        TEXT NOT NULL REFERENCES bundles (hash),
		pool          TEXT NOT NULL,
		parameters    TEXT NOT NULL DEFAULT '{}',
		param_schema  TEXT NOT NULL DEFAULT '[]',
		schedules     TEXT NOT NULL DEFAULT '[]',
		catchup       TEXT NOT NULL DEFAULT '',
		overlap       TEXT NOT NULL DEFAULT '',
		late_after    INTEGER NOT NULL DEFAULT 0,
		tags          TEXT NOT NULL DEFAULT '[]',
		concurrency   INTEGER NOT NULL DEFAULT 0,
		crash_retries INTEGER NOT NULL DEFAULT 0,
		paused        INTEGER NOT NULL DEFAULT 0,
		created_at    INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL,
		UNIQUE (flow, name)
	);
	CREATE TABLE workers (
		id           TEXT PRIMARY KEY,
		pool         TEXT NOT NULL,
		name         TEXT NOT NULL,
		slots        INTEGER NOT NULL,
		started_at   INTEGER NOT NULL,
		heartbeat_at INTEGER NOT NULL,
		draining     INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE tokens (
		id         TEXT PRIMARY KEY,
		hash       TEXT NOT NULL UNIQUE,
		name       TEXT NOT NULL,
		role       TEXT NOT NULL,
		pool       TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		expires_at INTEGER,
		revoked_at INTEGER
	);
	CREATE TABLE secrets (
		name       TEXT PRIMARY KEY,
		value      BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE audit (
		id       TEXT PRIMARY KEY,
		time     INTEGER NOT NULL,
		token_id TEXT NOT NULL,
		role     TEXT NOT NULL,
		action   TEXT NOT NULL,
		target   TEXT NOT NULL,
		detail   TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_time ON audit (time, id);
	CREATE TABLE slots (
		scope  TEXT NOT NULL,
		run_id TEXT NOT NULL,
		PRIMARY KEY (scope, run_id)
	);
	CREATE INDEX slots_run ON slots (run_id);
	CREATE TABLE leader (
		name   TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		until  INTEGER NOT NULL
	);`,

	// 6: the id of the token whose worker holds a run (claimed it):
	// what the server checks before taking the worker's writes, giving
	// it the run's secrets or bundle (package auth's holder rule).
	`ALTER TABLE runs ADD COLUMN holder TEXT NOT NULL DEFAULT '';`,

	// 7: a server lists its runs newest first, a page at a time, by state,
	// flow or deployment: each filter has an index in that order, so that
	// a page costs the same over a million runs as over a hundred.
	`CREATE INDEX runs_state_created ON runs (state, created_at, id);
	CREATE INDEX runs_flow_created ON runs (flow, created_at, id);
	CREATE INDEX runs_deployment_created ON runs (deployment_id, created_at, id);`,

	// 8: limits on tags: at most slots runs at once of the deployments
	// tagged name (their slots are rows of table slots, scope "tag:NAME").
	`CREATE TABLE limits (
		name  TEXT PRIMARY KEY,
		slots INTEGER NOT NULL
	);`,

	// 9: run tokens: a token made for one run (role run) names it, and
	// is revoked when the run is claimed again or ends.
	`ALTER TABLE tokens ADD COLUMN run_id TEXT NOT NULL DEFAULT '';
	CREATE INDEX tokens_run ON tokens (run_id) WHERE run_id <> '';`,

	// 10: task runs hold slots too (limits.go): a slot names its holder
	// within the run (a task run's name; '' for a whole run) and, for a
	// task run, the lease it holds it under (lease_until; NULL for a
	// whole run, whose lease is the run's). A holder that dies without
	// freeing its slot loses it when its lease lapses. The key gains the
	// holder, so the table is made again with the rows it had.
	`CREATE TABLE slots_leased (
		scope       TEXT NOT NULL,
		run_id      TEXT NOT NULL,
		holder      TEXT NOT NULL DEFAULT '',
		lease_until INTEGER,
		PRIMARY KEY (scope, run_id, holder)
	);
	INSERT INTO slots_leased (scope, run_id) SELECT scope, run_id FROM slots;
	DROP TABLE slots;
	ALTER TABLE slots_leased RENAME TO slots;
	CREATE INDEX slots_run ON slots (run_id);`,

	// 11: a kubernetes pool's base Job template (a batch/v1 Job as JSON;
	// '' for none: the worker's own) and the job variables its
	// deployments may set (a JSON array of names); a deployment's job
	// variables (a JSON object), checked against its pool's when it is
	// deployed and applied by the worker to each of its runs' Jobs; and
	// the flow's timeout (nanoseconds, 0: none), from which the worker
	// sets its Jobs' activeDeadlineSeconds.
	`ALTER TABLE pools ADD COLUMN job_template TEXT NOT NULL DEFAULT '';
	ALTER TABLE pools ADD COLUMN job_variables TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE deployments ADD COLUMN job_variables TEXT NOT NULL DEFAULT '{}';
	ALTER TABLE deployments ADD COLUMN timeout INTEGER NOT NULL DEFAULT 0;`,

	// 12: subflows: a child flow run names the run whose subflow node it
	// ran for (parent_id) and that node's task run (parent_task); both
	// are '' for a top-level run. A parent's children are found by index.
	`ALTER TABLE runs ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN parent_task TEXT NOT NULL DEFAULT '';
	CREATE INDEX runs_parent ON runs (parent_id, started_at) WHERE parent_id <> '';`,

	// 13: the web UI's sessions: the hash of a session's secret (the
	// cookie holds the secret, never a token), the token it was opened
	// with, and its expiry. A session ends at its expiry, at logout, and
	// with its token.
	`CREATE TABLE sessions (
		hash       TEXT PRIMARY KEY,
		token_id   TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX sessions_token ON sessions (token_id);`,

	// 14: a server's subflow runs: the child flow run a subflow of a run
	// being run makes runs in its parent's process, held with it; its
	// subflow_of is the top-level run it runs in (whose holder reports
	// for it, and with whose end it ends); '' for any other run.
	`ALTER TABLE runs ADD COLUMN subflow_of TEXT NOT NULL DEFAULT '';`,
}

// PageSize is the page size of a new database.
var PageSize = 16384

// SchemaVersion is the version of the schema this package writes.
var SchemaVersion = len(migrations)

// migrate applies the migrations the database has not seen, each in its
// own transaction, recording the version reached in schema_version. A
// database already up to date costs one read, without the write lock.
func (s *Store) migrate(ctx context.Context) error {
	if v, err := s.Version(ctx); err == nil && v == len(migrations) {
		return nil
	}
	if s.pg {
		return s.migratePostgres(ctx)
	}
	// A new database: its page size, then write-ahead logging, which stays
	// on in the file. Both must come before the first table.
	if _, err := s.db.ExecContext(ctx, `PRAGMA page_size = `+strconv.Itoa(PageSize)); err != nil {
		return err
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("cannot use write-ahead logging (journal mode %s): is the file on a network file system?", mode)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any, and reports whether the
// schema is up to date.
func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil) // immediate: one migrating process at a time
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	v, err := version(ctx, tx)
	if err != nil {
		return false, err
	}
	if v > len(migrations) {
		return false, fmt.Errorf("schema version %d is newer than this wfsh knows (%d): upgrade wfsh", v, len(migrations))
	}
	if v == len(migrations) {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migration %d: %w", v+1, err)
	}
	if err := setVersion(ctx, tx, v+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}

func setVersion(ctx context.Context, tx *sql.Tx, v int) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v)
	return err
}

func version(ctx context.Context, tx *sql.Tx) (int, error) {
	var v sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT max(version) FROM schema_version`).Scan(&v)
	return int(v.Int64), err
}

// Version returns the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_version`).Scan(&v)
	return int(v.Int64), err
}
