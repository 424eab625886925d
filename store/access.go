package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Token is an API token as the server keeps it: its hash, never the
// token itself (docs/server.md, "Authentication").
type Token struct {
	ID        string    `json:"id"`
	Hash      string    `json:"-"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Pool      string    `json:"pool,omitempty"` // a worker token's pool
	Run       string    `json:"run,omitempty"`  // a run token's run
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Valid reports whether the token may be used at now.
func (t *Token) Valid(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

const tokenColumns = `id, hash, name, role, pool, run_id, created_at, expires_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created int64
	var exp, rev sql.NullInt64
	err := row.Scan(&t.ID, &t.Hash, &t.Name, &t.Role, &t.Pool, &t.Run, &created, &exp, &rev)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = unixNano(created), nullTime(exp), nullTime(rev)
	return t, err
}

func nullNano(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// PutToken stores a new token.
func (s *Store) PutToken(ctx context.Context, t Token) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		t.ID, t.Hash, t.Name, t.Role, t.Pool, t.Run, t.CreatedAt.UnixNano(), nullNano(t.ExpiresAt))
	return err
}

// revokeRunTokens revokes the run tokens of a run: it was claimed again
// or ended.
func revokeRunTokens(ctx context.Context, tx *sql.Tx, runID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE run_id = ? AND revoked_at IS NULL`, now.UnixNano(), runID)
	return err
}

// TokenByHash finds the token whose hash is hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", ErrNoSuch)
	}
	return t, err
}

// CountTokens counts the tokens of a role ("" for all) not revoked.
func (s *Store) CountTokens(ctx context.Context, role string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE revoked_at IS NULL AND (? = '' OR role = ?)`, role, role).Scan(&n)
	return n, err
}

// ListTokens lists the tokens, newest first.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token from now on, and ends its web sessions.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now.UnixNano(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %q (or it is revoked already): %w", id, ErrNoSuch)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_id = ?`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// SecretInfo is what may be shown of a secret: never its value.
type SecretInfo struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PutSecret stores a secret's sealed value (encrypted by the caller).
func (s *Store) PutSecret(ctx context.Context, name string, sealed []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		name, sealed, now.UnixNano(), now.UnixNano())
	return err
}

// SealedSecret returns a secret's sealed value.
func (s *Store) SealedSecret(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %q: %w", name, ErrNoSuch)
	}
	return b, err
}

// ListSecrets lists the secrets' names and dates.
func (s *Store) ListSecrets(ctx context.Context) ([]SecretInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, created_at, updated_at FROM secrets ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SecretInfo
	for rows.Next() {
		var si SecretInfo
		var c, u int64
		if err := rows.Scan(&si.Name, &c, &u); err != nil {
			return nil, err
		}
		si.CreatedAt, si.UpdatedAt = unixNano(c), unixNano(u)
		out = append(out, si)
	}
	return out, rows.Err()
}

// DeleteSecret removes a secret.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM secrets WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("secret %q: %w", name, ErrNoSuch)
	}
	return nil
}

// AuditEntry is one state-changing call: who, what, when.
type AuditEntry struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	TokenID string    `json:"token_id"`
	Role    string    `json:"role"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Detail  string    `json:"detail,omitempty"`
}

// AddAudit records a call.
func (s *Store) AddAudit(ctx context.Context, e AuditEntry) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit (id, time, token_id, role, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Time.UnixNano(), e.TokenID, e.Role, e.Action, e.Target, e.Detail)
	return err
}

// ListAudit lists the newest entries first, at most limit.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, time, token_id, role, action, target, detail FROM audit ORDER BY time DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.TokenID, &e.Role, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = unixNano(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Limit is a concurrency limit on a tag: at most Slots task runs tagged
// Name at once (limits.go), and on a server at most Slots runs at once of
// the deployments tagged Name, with how many hold a slot now (of both
// kinds; a task run's slot whose lease lapsed is not counted).
type Limit struct {
	Name  string `json:"name"`
	Slots int    `json:"slots"`
	Used  int    `json:"used"`
}

// PutLimit sets the limit of a tag.
func (s *Store) PutLimit(ctx context.Context, name string, slots int) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO limits (name, slots) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET slots = excluded.slots`, name, slots)
	return err
}

// ListLimits lists the limits by name, with the slots in use.
func (s *Store) ListLimits(ctx context.Context) ([]Limit, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.name, l.slots, (SELECT count(*) FROM slots AS s
			WHERE s.scope IN ('tag:' || l.name, 'task:' || l.name) AND (s.lease_until IS NULL OR s.lease_until > ?))
		FROM limits AS l ORDER BY l.name`, time.Now().UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Limit
	for rows.Next() {
		var l Limit
		if err := rows.Scan(&l.Name, &l.Slots, &l.Used); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// DeleteLimit removes a tag's limit.
func (s *Store) DeleteLimit(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM limits WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("limit %q: %w", name, ErrNoSuch)
	}
	return nil
}
