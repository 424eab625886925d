package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// SecretValue is a secret's value, only ever sent to the worker that
// holds a run reading it.
type SecretValue struct {
	Value string `json:"value"`
}

// TokenRequest creates a token.
type TokenRequest struct {
	Name      string `json:"name" minLength:"1" maxLength:"200"`
	Role      string `json:"role" enum:"admin,developer,viewer,worker"`
	Pool      string `json:"pool,omitempty" doc:"a worker token's pool (required for role worker)"`
	ExpiresIn string `json:"expires_in,omitempty" doc:"a Go duration; default: never"`
}

// NewTokenReply is a token, shown once, and what is kept of it.
type NewTokenReply struct {
	Token string      `json:"token"`
	Info  store.Token `json:"info"`
}

// validSecretName says whether a secret may be called name: what an
// environment variable may be, as secret("NAME") reads one when no server
// is there: a letter or _, then letters, digits, _ . -, at most 128 bytes.
// (A regular expression of it took 0.3 ms to compile at every wfsh
// start, `wfsh run` included: {0,127} is 127 instructions.)
func validSecretName(name string) bool {
	if name == "" || len(name) > 128 || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '.' || c == '-')) {
			return false
		}
	}
	return true
}

// putNewToken makes a token of t's kind, stores its hash and answers 201
// with its plaintext, shown this once.
func (s *Server) putNewToken(ctx context.Context, t store.Token) (*struct {
	Status int
	Body   NewTokenReply
}, error) {
	tok := auth.New()
	t.ID, t.Hash = auth.ID(tok.Hash), tok.Hash
	if err := s.st.PutToken(ctx, t); err != nil {
		return nil, problem(err)
	}
	return &struct {
		Status int
		Body   NewTokenReply
	}{http.StatusCreated, NewTokenReply{Token: tok.Plaintext, Info: t}}, nil
}

func (s *Server) adminRoutes() {
	huma.Register(s.api, op("create-token", http.MethodPost, "/tokens", auth.TokensWrite, "Create a token (shown once)"),
		func(ctx context.Context, in *struct{ Body TokenRequest }) (*struct {
			Status int
			Body   NewTokenReply
		}, error) {
			b := in.Body
			if (b.Role == string(auth.Worker)) != (b.Pool != "") {
				return nil, huma.Error422UnprocessableEntity("a worker token needs its pool, and only a worker token has one")
			}
			t := store.Token{Name: b.Name, Role: b.Role, Pool: b.Pool, CreatedAt: s.opt.Now()}
			if b.ExpiresIn != "" {
				d, err := time.ParseDuration(b.ExpiresIn)
				if err != nil || d <= 0 {
					return nil, huma.Error422UnprocessableEntity("expires_in: want a positive duration such as 720h")
				}
				t.ExpiresAt = t.CreatedAt.Add(d)
			}
			return s.putNewToken(ctx, t)
		})

	huma.Register(s.api, op("list-tokens", http.MethodGet, "/tokens", auth.TokensList, "List tokens (never their values)"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []store.Token }, error) {
			ts, err := s.st.ListTokens(ctx)
			return &struct{ Body []store.Token }{orNone(ts)}, problem(err)
		})

	huma.Register(s.api, op("revoke-token", http.MethodDelete, "/tokens/{id}", auth.TokensWrite, "Revoke a token"),
		func(ctx context.Context, in *struct {
			ID string `path:"id"`
		}) (*struct{ Status int }, error) {
			if err := s.st.RevokeToken(ctx, in.ID, s.opt.Now()); err != nil {
				return nil, problem(err)
			}
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("put-secret", http.MethodPut, "/secrets/{name}", auth.SecretsWrite, "Set a secret (the body is its value)"),
		func(ctx context.Context, in *struct {
			Name    string `path:"name"`
			RawBody []byte `contentType:"application/octet-stream"`
		}) (*struct{ Status int }, error) {
			if !validSecretName(in.Name) {
				return nil, huma.Error422UnprocessableEntity("a secret's name is a letter or _, then letters, digits, _ . - (at most 128)")
			}
			if s.opt.Sealer == nil {
				return nil, huma.Error503ServiceUnavailable("secrets are off: the server has no encryption key")
			}
			sealed, err := s.opt.Sealer.Seal(in.Name, in.RawBody)
			if err != nil {
				return nil, huma.Error500InternalServerError("sealing the secret failed")
			}
			if err := s.st.PutSecret(ctx, in.Name, sealed, s.opt.Now()); err != nil {
				return nil, problem(err)
			}
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("list-secrets", http.MethodGet, "/secrets", auth.SecretsList, "List secrets (names and dates only)"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []store.SecretInfo }, error) {
			ss, err := s.st.ListSecrets(ctx)
			return &struct{ Body []store.SecretInfo }{orNone(ss)}, problem(err)
		})

	huma.Register(s.api, op("delete-secret", http.MethodDelete, "/secrets/{name}", auth.SecretsWrite, "Remove a secret"),
		func(ctx context.Context, in *struct {
			Name string `path:"name"`
		}) (*struct{ Status int }, error) {
			if err := s.st.DeleteSecret(ctx, in.Name); err != nil {
				return nil, problem(err)
			}
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("list-audit", http.MethodGet, "/audit", auth.AuditRead, "The audit log: state-changing calls, newest first"),
		func(ctx context.Context, in *struct {
			Limit int `query:"limit" minimum:"0" maximum:"10000"`
		}) (*struct{ Body []store.AuditEntry }, error) {
			n := in.Limit
			if n == 0 {
				n = 100
			}
			es, err := s.st.ListAudit(ctx, n)
			return &struct{ Body []store.AuditEntry }{orNone(es)}, problem(err)
		})
}

// openSecret is a secret's value in clear.
func (s *Server) openSecret(ctx context.Context, name string) ([]byte, error) {
	if s.opt.Sealer == nil {
		return nil, huma.Error503ServiceUnavailable("secrets are off: the server has no encryption key")
	}
	sealed, err := s.st.SealedSecret(ctx, name)
	if errors.Is(err, store.ErrNoSuch) {
		return nil, huma.Error404NotFound("no secret " + name + " on the server (wfsh secret set " + name + ")")
	}
	if err != nil {
		return nil, problem(err)
	}
	v, err := s.opt.Sealer.Open(name, sealed)
	if err != nil {
		return nil, huma.Error500InternalServerError("the secret " + name + " does not open with this server's key")
	}
	return v, nil
}
