package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// A PoolToken declares a work pool and the token its workers present,
// given to the server at its start rather than made through the API
// (`wfsh server --kubernetes-pools DIR`: how the Helm chart hands the
// server the pools of its release and their tokens, which the chart
// generates into a Secret, as it does the admin token).
type PoolToken struct {
	Pool, Type, Token string
	// JobVariables, when not nil, are the job variables the pool's
	// deployments may set (the chart's workers[].jobVariables): they
	// replace the pool's at each start. Nil leaves the pool's as they
	// are (set with wfsh pool set).
	JobVariables []string
	// JobTemplate, when not nil, is the pool's base Job (the chart's
	// worker.jobTemplate merged with workers[].jobTemplate, as JSON): it
	// replaces the pool's at each start, as JobVariables do.
	JobTemplate json.RawMessage
}

// poolTokenName names the tokens EnsurePools stores, one a pool: a
// token of that name with another value is the Secret's previous one.
func poolTokenName(pool string) string { return "worker of pool " + pool + " (declared at start)" }

// EnsurePools makes each declared pool that does not exist (and gives
// one that does the declared type), and stores each token the server
// does not know as a worker token of its pool. A token declared before
// for the pool with another value is revoked: the Secret was changed,
// the old value must stop working. Safe to run from several servers at
// once, and at every start.
func (s *Server) EnsurePools(ctx context.Context, pts []PoolToken) error {
	pools, err := s.st.ListPools(ctx)
	if err != nil {
		return err
	}
	have := map[string]store.Pool{}
	for _, p := range pools {
		have[p.Name] = p
	}
	for _, pt := range pts {
		if err := auth.CheckFormat(pt.Token); err != nil {
			var ae *auth.Error
			if errors.As(err, &ae) {
				err = errors.New(ae.Reason)
			}
			return &BadPoolToken{Pool: pt.Pool, Err: err}
		}
		for _, k := range pt.JobVariables {
			if _, ok := jobVariables[k]; !ok {
				return &BadJobVariables{Pool: pt.Pool, Err: fmt.Errorf("no job variable %q (there are: %s)", k, strings.Join(JobVariableNames(), ", "))}
			}
		}
		if pt.JobTemplate != nil {
			if err := CheckJobTemplate(pt.JobTemplate); err != nil {
				return &BadJobTemplate{Pool: pt.Pool, Err: err}
			}
		}
		p, ok := have[pt.Pool]
		vars := pt.JobVariables != nil && !slices.Equal(p.JobVariables, pt.JobVariables)
		tmpl := pt.JobTemplate != nil && !bytes.Equal(p.JobTemplate, pt.JobTemplate)
		if !ok || p.Type != pt.Type || vars || tmpl {
			p.Name, p.Type = pt.Pool, pt.Type
			if pt.JobVariables != nil {
				p.JobVariables = pt.JobVariables
			}
			if pt.JobTemplate != nil {
				p.JobTemplate = pt.JobTemplate
			}
			if err := s.st.PutPool(ctx, p, s.opt.Now()); err != nil {
				return fmt.Errorf("pool %s: %w", pt.Pool, err)
			}
		}
		if err := s.ensurePoolToken(ctx, pt); err != nil {
			return fmt.Errorf("pool %s: %w", pt.Pool, err)
		}
	}
	return nil
}

func (s *Server) ensurePoolToken(ctx context.Context, pt PoolToken) error {
	hash := auth.Hash(pt.Token)
	t, err := s.st.TokenByHash(ctx, hash)
	if err == nil {
		if t.Role != string(auth.Worker) || t.Pool != pt.Pool {
			return &BadPoolToken{Pool: pt.Pool, Err: fmt.Errorf("the token is already the server's token %s (role %s), not a worker token of this pool", t.ID, t.Role)}
		}
		if !t.RevokedAt.IsZero() {
			s.logf("pool %s: its declared worker token %s was revoked: its workers are refused until the Secret holds a new one", pt.Pool, t.ID)
		}
		return nil
	}
	if !errors.Is(err, store.ErrNoSuch) {
		return err
	}
	if err := s.revokeDeclared(ctx, pt.Pool); err != nil {
		return err
	}
	nt := store.Token{ID: auth.ID(hash), Hash: hash, Name: poolTokenName(pt.Pool), Role: string(auth.Worker), Pool: pt.Pool, CreatedAt: s.opt.Now()}
	if err := s.st.PutToken(ctx, nt); err != nil {
		if _, again := s.st.TokenByHash(ctx, hash); again == nil {
			return nil // another server stored it first
		}
		return err
	}
	s.logf("pool %s: worker token %s declared", pt.Pool, nt.ID)
	return nil
}

// revokeDeclared revokes the tokens declared for pool before.
func (s *Server) revokeDeclared(ctx context.Context, pool string) error {
	ts, err := s.st.ListTokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Name != poolTokenName(pool) || t.Pool != pool || !t.RevokedAt.IsZero() {
			continue
		}
		if err := s.st.RevokeToken(ctx, t.ID, s.opt.Now()); err != nil && !errors.Is(err, store.ErrNoSuch) {
			return err
		}
		s.logf("pool %s: its previous declared worker token %s revoked", pool, t.ID)
	}
	return nil
}

// BadJobVariables: a pool declared at start names a job variable there
// is not.
type BadJobVariables struct {
	Pool string
	Err  error
}

func (e *BadJobVariables) Error() string {
	return "the job variables of pool " + e.Pool + ": " + e.Err.Error()
}

// BadJobTemplate: the base Job template declared at start for a pool
// is not one (CheckJobTemplate's rules, as `wfsh pool set` has).
type BadJobTemplate struct {
	Pool string
	Err  error
}

func (e *BadJobTemplate) Error() string {
	return "the job template of pool " + e.Pool + ": " + e.Err.Error()
}

// BadPoolToken is a declared pool token the server cannot take.
type BadPoolToken struct {
	Pool string
	Err  error
}

func (e *BadPoolToken) Error() string {
	return "the worker token of pool " + e.Pool + ": " + e.Err.Error() + " (make one with: wfsh token generate)"
}
