package server

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
)

// TestRolesEveryEndpoint sends a request to every operation of the API
// document, with no token, an unknown token and a token of each role, and
// checks the answer against the operation's action and the role table:
// 401 without a valid token, 403 for a role the table refuses, anything
// but 401 and 403 for a role it allows. Path parameters name nothing that
// exists (the pool is "default", a worker token's pool), so an allowed
// request ends in 404 or 422 rather than changing anything; TestRoles
// checks allowed requests that succeed. A new operation is checked as
// soon as it is registered.
func TestRolesEveryEndpoint(t *testing.T) {
	ts := newTestServer(t)
	tokens := map[auth.Role]string{auth.Admin: ts.admin.Token}
	for _, r := range auth.Roles()[1:4] {
		tokens[r] = ts.token(t, string(r)).Token
	}
	held, runTok := ts.runToken(t)
	tokens[auth.Run] = runTok.Token
	param := regexp.MustCompile(`\{([^}]+)\}`)
	ops := 0
	for path, item := range ts.srv.api.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodDelete: item.Delete, http.MethodPatch: item.Patch, http.MethodHead: item.Head,
		} {
			if op == nil {
				continue
			}
			action, _ := op.Metadata["action"].(auth.Action)
			if action == "" {
				continue // health, readiness and the document itself: no token needed
			}
			ops++
			var scope auth.Scope
			url := ts.http.URL + param.ReplaceAllStringFunc(path, func(m string) string {
				if m == "{pool}" {
					scope.Pool = "default"
					return "default"
				}
				if m == "{hash}" {
					return strings.Repeat("0", 64)
				}
				return "NOSUCH"
			})
			send := func(token string) int {
				t.Helper()
				var body *strings.Reader
				if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
					body = strings.NewReader("{}")
				} else {
					body = strings.NewReader("")
				}
				req, err := http.NewRequestWithContext(context.Background(), method, url, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := ts.http.Client().Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			for _, bad := range []string{"", auth.New().Plaintext} {
				if got := send(bad); got != http.StatusUnauthorized {
					t.Errorf("%s %s (%s) without a valid token: %d, want 401", method, path, action, got)
				}
			}
			roles := make([]string, 0, len(tokens))
			for r := range tokens {
				roles = append(roles, string(r))
			}
			sort.Strings(roles)
			for _, r := range roles {
				role := auth.Role(r)
				p := &auth.Principal{ID: "x", Role: role}
				switch role {
				case auth.Worker:
					p.Pool = "default"
				case auth.Run:
					p.Pool, p.Run = "default", held.ID
				}
				got := send(tokens[role])
				switch allowed := auth.Allow(p, action, scope) == nil; {
				case allowed && (got == http.StatusUnauthorized || got == http.StatusForbidden):
					t.Errorf("%s %s (%s) as %s: %d, want it allowed", method, path, action, role, got)
				case !allowed && got != http.StatusForbidden:
					t.Errorf("%s %s (%s) as %s: %d, want 403", method, path, action, role, got)
				}
			}
		}
	}
	t.Logf("%d operations", ops)
	if ops < 30 {
		t.Errorf("%d operations with an action in the document; the API has more", ops)
	}
}
