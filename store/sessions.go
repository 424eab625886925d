package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a web UI session as the server keeps it: the hash of its
// secret (the cookie holds the secret), the token it was opened with,
// and when it ends.
type Session struct {
	Hash      string
	TokenID   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PutSession stores a new session, and drops the sessions that have
// expired.
func (s *Store) PutSession(ctx context.Context, ss Session) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ss.CreatedAt.UnixNano()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		ss.Hash, ss.TokenID, ss.CreatedAt.UnixNano(), ss.ExpiresAt.UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// SessionToken is the token of the session whose secret's hash is hash,
// if the session has not expired at now (ErrNoSuch otherwise): one
// lookup, as for a token. The caller checks the token's own validity.
func (s *Store) SessionToken(ctx context.Context, hash string, now time.Time) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT t.id, t.hash, t.name, t.role, t.pool, t.run_id, t.created_at, t.expires_at, t.revoked_at
		FROM sessions AS s JOIN tokens AS t ON t.id = s.token_id WHERE s.hash = ? AND s.expires_at > ?`, hash, now.UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("session: %w", ErrNoSuch)
	}
	return t, err
}

// DeleteSession ends a session (logout).
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
	return err
}
