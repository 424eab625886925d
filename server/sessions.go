package server

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// SessionLife is how long a web UI session lasts, at most: logging out
// ends it sooner, and so does its token's expiry or revocation.
const SessionLife = 12 * time.Hour

// NewSession is a web UI session just opened: Secret goes in the
// browser's cookie (the server keeps its hash), CSRF in its pages'
// forms and requests.
type NewSession struct {
	Secret    string    `json:"secret"`
	CSRF      string    `json:"csrf"`
	ExpiresAt time.Time `json:"expires_at"`
}

// sessionKey keeps, for a request made with the session cookie, the hash
// of its session's secret.
type sessionKey struct{}

func (s *Server) sessionRoutes() {
	// runs.read: the roles that may browse (as /whoami).
	huma.Register(s.api, op("create-session", http.MethodPost, "/sessions", auth.RunsRead,
		"Open a web UI session on the request's bearer token (the UI's login)"),
		func(ctx context.Context, in *struct{}) (*struct {
			Status int
			Body   NewSession
		}, error) {
			if _, ok := ctx.Value(sessionKey{}).(string); ok {
				return nil, huma.Error403Forbidden("a session is opened with a token (Authorization: Bearer), not with another session")
			}
			now := s.opt.Now()
			sec := auth.NewSession()
			ns := NewSession{Secret: sec.Plaintext, CSRF: auth.CSRF(sec.Plaintext), ExpiresAt: now.Add(SessionLife)}
			if err := s.st.PutSession(ctx, store.Session{Hash: sec.Hash, TokenID: principalOf(ctx).ID, CreatedAt: now, ExpiresAt: ns.ExpiresAt}); err != nil {
				return nil, problem(err)
			}
			return &struct {
				Status int
				Body   NewSession
			}{http.StatusCreated, ns}, nil
		})

	huma.Register(s.api, op("delete-session", http.MethodDelete, "/sessions/current", auth.RunsRead,
		"End the session the request is made with (the UI's logout)"),
		func(ctx context.Context, in *struct{}) (*struct{ Status int }, error) {
			hash, ok := ctx.Value(sessionKey{}).(string)
			if !ok {
				return nil, huma.Error400BadRequest("the request is not made with a session cookie")
			}
			if err := s.st.DeleteSession(ctx, hash); err != nil {
				return nil, problem(err)
			}
			return &struct{ Status int }{http.StatusNoContent}, nil
		})
}
