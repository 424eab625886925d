package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// Roles, from most to least power; a worker's token is bound to a pool.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleViewer    = "viewer"
	RoleWorker    = "worker"
)

// Roles are the roles a token may have.
var Roles = []string{RoleAdmin, RoleDeveloper, RoleViewer, RoleWorker}

// access is the one table of who may do what: action -> roles. Every
// operation names its action (Operation.Metadata["action"]); the
// middleware checks it before the handler runs. A worker's pool, and
// that it holds the run it reports on, are checked by the handlers with
// their data.
var access = map[string][]string{
	"runs.read":         {RoleAdmin, RoleDeveloper, RoleViewer},
	"runs.create":       {RoleAdmin, RoleDeveloper},
	"runs.cancel":       {RoleAdmin, RoleDeveloper},
	"deployments.read":  {RoleAdmin, RoleDeveloper, RoleViewer},
	"deployments.write": {RoleAdmin, RoleDeveloper},
	"bundles.write":     {RoleAdmin, RoleDeveloper},
	"bundles.read":      {RoleAdmin, RoleDeveloper, RoleWorker},
	"pools.read":        {RoleAdmin, RoleDeveloper, RoleViewer},
	"pools.write":       {RoleAdmin},
	"workers.read":      {RoleAdmin, RoleDeveloper, RoleViewer},
	"workers.work":      {RoleWorker},
	"secrets.list":      {RoleAdmin, RoleDeveloper},
	"secrets.write":     {RoleAdmin},
	"secrets.resolve":   {RoleWorker},
	"tokens.read":       {RoleAdmin},
	"tokens.write":      {RoleAdmin},
	"audit.read":        {RoleAdmin},
}

// Principal is who makes a request: the token's id, role and pool.
type Principal struct {
	TokenID, Role, Pool string
}

type principalKey struct{}

func principalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Allowed reports whether role may do action.
func Allowed(role, action string) bool { return slices.Contains(access[action], role) }

// Actions are the actions of the table, for tests and docs.
func Actions() []string {
	var out []string
	for a := range access {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// authenticate checks the bearer token and the role of every operation
// that names an action: 401 without a valid token, 403 for a role
// without the action.
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	action, _ := ctx.Operation().Metadata["action"].(string)
	if action == "" {
		next(ctx)
		return
	}
	token, err := auth.Bearer(ctx.Header("Authorization"))
	if err != nil {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="wfsh"`)
		huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "a token is required: Authorization: Bearer TOKEN (wfsh login, or WFSH_TOKEN)")
		return
	}
	t, err := s.st.TokenByHash(ctx.Context(), auth.Hash(token))
	if err != nil || !t.Valid(s.opt.Now()) {
		if err != nil && !errors.Is(err, store.ErrNoSuch) {
			huma.WriteErr(s.api, ctx, http.StatusInternalServerError, err.Error())
			return
		}
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="wfsh", error="invalid_token"`)
		huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "the token is unknown, expired or revoked")
		return
	}
	if !Allowed(t.Role, action) {
		huma.WriteErr(s.api, ctx, http.StatusForbidden, fmt.Sprintf("a %s token may not %s", t.Role, action))
		return
	}
	p := Principal{TokenID: t.ID, Role: t.Role, Pool: t.Pool}
	next(huma.WithValue(ctx, principalKey{}, p))
	if m := ctx.Method(); m != http.MethodGet && action != "workers.work" && ctx.Status() < 400 {
		s.audit(ctx.Context(), p, action, ctx.URL().Path)
	}
}

func (s *Server) audit(ctx context.Context, p Principal, action, target string) {
	e := store.AuditEntry{ID: randomID(), Time: s.opt.Now(), TokenID: p.TokenID, Role: p.Role, Action: action, Target: target}
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
	n, err := s.st.CountTokens(ctx, RoleAdmin)
	if err != nil || n > 0 {
		return "", err
	}
	tok := adminToken
	if tok == "" {
		tok = auth.New().Plaintext
	}
	t := store.Token{ID: randomID(), Hash: auth.Hash(tok), Name: "admin (first start)", Role: RoleAdmin, CreatedAt: s.opt.Now()}
	if err := s.st.PutToken(ctx, t); err != nil {
		return "", err
	}
	if adminToken != "" {
		return "", nil
	}
	return tok, nil
}
