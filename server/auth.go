package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

type principalKey struct{}

// principalOf is who makes the request (set by authenticate).
func principalOf(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

// authenticate checks the bearer token of every operation that names an
// action, against package auth's one table of who may do what: 401
// without a valid token, 403 when the token's role may not, or may only
// for its own pool or for the runs its worker holds and this is not one
// (the scope: the pool in the path, or the run's pool and holder).
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	action, _ := ctx.Operation().Metadata["action"].(auth.Action)
	if action == "" {
		next(ctx)
		return
	}
	token, byCookie, err := credentials(ctx)
	if err != nil {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="wfsh"`)
		huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "a token is required: Authorization: Bearer TOKEN (wfsh login, or WFSH_TOKEN)")
		return
	}
	if m := ctx.Method(); byCookie && m != http.MethodGet && m != http.MethodHead {
		if err := auth.CheckCSRF(token, ctx.Header(auth.CSRFHeader)); err != nil {
			huma.WriteErr(s.api, ctx, http.StatusForbidden, err.(*auth.Error).Reason)
			return
		}
	}
	// A session cookie holds a session's secret: its session names the
	// token (and ends with it).
	hash := auth.Hash(token)
	lookup := s.st.TokenByHash
	if byCookie {
		lookup = func(c context.Context, hash string) (store.Token, error) {
			return s.st.SessionToken(c, hash, s.opt.Now())
		}
	}
	t, err := lookup(ctx.Context(), hash)
	if err != nil || !t.Valid(s.opt.Now()) {
		if err != nil && !errors.Is(err, store.ErrNoSuch) {
			huma.WriteErr(s.api, ctx, http.StatusInternalServerError, err.Error())
			return
		}
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="wfsh", error="invalid_token"`)
		msg := "the token is unknown, expired or revoked"
		if byCookie {
			msg = "the session has ended (logged out or expired), or its token is expired or revoked"
		}
		huma.WriteErr(s.api, ctx, http.StatusUnauthorized, msg)
		return
	}
	p := auth.Principal{ID: t.ID, Role: auth.Role(t.Role), Pool: t.Pool, Run: t.Run}
	scope, run, err := s.scope(ctx, action)
	if err != nil {
		huma.WriteErr(s.api, ctx, http.StatusInternalServerError, err.Error())
		return
	}
	if err := auth.Allow(&p, action, scope); err != nil {
		var ae *auth.Error
		msg := err.Error()
		if errors.As(err, &ae) {
			msg = ae.Reason
		}
		huma.WriteErr(s.api, ctx, http.StatusForbidden, fmt.Sprintf("a %s token may not do this: %s", t.Role, msg))
		return
	}
	ctx = huma.WithValue(ctx, principalKey{}, p)
	if byCookie {
		ctx = huma.WithValue(ctx, sessionKey{}, hash)
	}
	if run != nil {
		ctx = huma.WithValue(ctx, scopeRunKey{}, run)
	}
	next(ctx)
	if m := ctx.Method(); m != http.MethodGet && !quiet[action] && ctx.Status() < 400 {
		s.audit(ctx.Context(), p, string(action), ctx.URL().Path)
	}
}

// credentials is the request's token, from its Authorization header,
// else the secret of the web UI's session cookie (byCookie: then a
// state-changing request must carry the session's CSRF token too).
func credentials(ctx huma.Context) (token string, byCookie bool, err error) {
	if h := ctx.Header("Authorization"); h != "" || ctx.Header("Cookie") == "" {
		token, err = auth.Bearer(h)
		return token, false, err
	}
	r := http.Request{Header: http.Header{"Cookie": {ctx.Header("Cookie")}}}
	c, err := r.Cookie(auth.SessionCookie)
	if err != nil {
		return "", false, err
	}
	return c.Value, true, auth.CheckSessionFormat(c.Value)
}

// scopeRunKey keeps the run authenticate read for a request's scope, for
// its handler (serverRun): one read of the run, not two.
type scopeRunKey struct{}

// quiet are the actions a worker makes many times a run: not audited.
var quiet = map[auth.Action]bool{auth.WorkersClaim: true, auth.WorkersHeartbeat: true, auth.RunsReport: true}

// scope is what the rules of action need to know of the request's
// object: the pool of its path, or of the run it names (with the token
// holding it), and that run as read. A bundle is read for a run
// (?run=ID), and only if it is that run's.
func (s *Server) scope(ctx huma.Context, action auth.Action) (auth.Scope, *store.Run, error) {
	sc := auth.Scope{Pool: ctx.Param("pool")}
	id := ctx.Param("id")
	if action == auth.BundlesRead {
		id = ctx.Query("run")
	} else if !strings.HasPrefix(ctx.Operation().Path, "/api/v1/runs/{id}") {
		return sc, nil, nil
	}
	if id == "" {
		return sc, nil, nil
	}
	r, err := s.st.GetRun(ctx.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && r.Server == nil {
		return sc, nil, nil // the handler says it is not found, to those who may look
	}
	if err != nil {
		return sc, nil, err
	}
	if action == auth.BundlesRead {
		if r.Server.Bundle != ctx.Param("hash") {
			return sc, nil, nil
		}
		sc.Pool, sc.Holder, sc.Run = r.Server.Pool, r.Server.Holder, r.ID
		return sc, nil, nil // the path's id is the bundle's
	}
	sc.Pool, sc.Holder, sc.Run = r.Server.Pool, r.Server.Holder, r.ID
	if r.SubflowOf != "" {
		// A subflow's run runs in the process of the run it is in: that
		// run's token reports for it (its worker holds both).
		sc.Run = r.SubflowOf
	}
	if r.Parent != "" {
		// A run another made (run_deployment): its maker's holder may
		// follow and cancel it.
		p, err := s.st.GetRun(ctx.Context(), r.Parent)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return sc, nil, err
		}
		if err == nil && p.Server != nil {
			sc.Parent, sc.ParentHolder = p.ID, p.Server.Holder
		}
	}
	return sc, &r, nil
}

func (s *Server) audit(ctx context.Context, p auth.Principal, action, target string) {
	e := store.AuditEntry{ID: randomID(), Time: s.opt.Now(), TokenID: p.ID, Role: string(p.Role), Action: action, Target: target}
	if err := s.st.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		s.logf("audit: %v", err)
	}
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Bootstrap makes the first admin token when there is none: adminToken
// when given (WFSH_ADMIN_TOKEN, how a Helm chart passes a Secret), else a
// new one, returned to be printed once. "" when an admin token exists.
func (s *Server) Bootstrap(ctx context.Context, adminToken string) (string, error) {
	n, err := s.st.CountTokens(ctx, string(auth.Admin))
	if err != nil || n > 0 {
		return "", err
	}
	if adminToken != "" {
		// A token that no request could present (Bearer checks the form)
		// would lock the admin out: refuse it at the start.
		if err := auth.CheckFormat(adminToken); err != nil {
			var ae *auth.Error
			if errors.As(err, &ae) {
				err = errors.New(ae.Reason)
			}
			return "", &BadAdminToken{err}
		}
	}
	tok := adminToken
	if tok == "" {
		tok = auth.New().Plaintext
	}
	t := store.Token{ID: auth.ID(auth.Hash(tok)), Hash: auth.Hash(tok), Name: "admin (first start)", Role: string(auth.Admin), CreatedAt: s.opt.Now()}
	if err := s.st.PutToken(ctx, t); err != nil {
		return "", err
	}
	if adminToken != "" {
		return "", nil
	}
	return tok, nil
}

// BadAdminToken is a WFSH_ADMIN_TOKEN that is not a token: make one with
// `wfsh token generate`.
type BadAdminToken struct{ Err error }

func (e *BadAdminToken) Error() string {
	return "WFSH_ADMIN_TOKEN: " + e.Err.Error() + " (make one with: wfsh token generate)"
}
