package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/server"
)

// Session is who browses: their token's public id and role, and the
// CSRF token their forms carry. Can asks package auth's table what the
// role may do, so that a page shows only the buttons that would work
// (the API refuses the others anyway).
type Session struct {
	secret string // the cookie's: the server keeps the session by its hash
	Who    server.Whoami
	CSRF   string
}

// Can reports whether the session's role may do action (auth.Action's
// names: "runs.cancel", "secrets.write", ...) on any object.
func (s *Session) Can(action string) bool {
	p := auth.Principal{ID: s.Who.ID, Role: auth.Role(s.Who.Role), Pool: s.Who.Pool}
	return auth.Allow(&p, auth.Action(action), auth.Scope{}) == nil
}

// inProcess is an http.RoundTripper calling the server's handler in
// this process: the pages read the API as any client does, without a
// socket.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	req.RequestURI = req.URL.RequestURI()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// client is an API client with token, calling the server in process.
func (u *UI) client(token string) *server.Client {
	return &server.Client{Base: "http://wfsh", Token: token, HTTP: &http.Client{Transport: inProcess{u.opt.API}}}
}

// sessionClient is an API client of the session of secret, calling the
// server in process as the browser would, with the session's cookie.
func (u *UI) sessionClient(secret string) *server.Client {
	return &server.Client{Base: "http://wfsh", Session: secret, HTTP: &http.Client{Transport: inProcess{u.opt.API}}}
}

// errNoSession: the request has no session cookie.
var errNoSession = errors.New("no session")

// session is the request's session and its API client, checked with
// the API (GET /whoami): a session ended, or whose token is expired or
// revoked, is the API's 401.
func (u *UI) session(r *http.Request) (*Session, *server.Client, error) {
	c, err := r.Cookie(auth.SessionCookie)
	if err != nil || auth.CheckSessionFormat(c.Value) != nil {
		return nil, nil, errNoSession
	}
	cl := u.sessionClient(c.Value)
	s := &Session{secret: c.Value, CSRF: auth.CSRF(c.Value)}
	if err := cl.Do(r.Context(), "GET", "/whoami", nil, &s.Who); err != nil {
		return nil, nil, err
	}
	return s, cl, nil
}

// handler is a page's handler, given the session and its API client.
type handler func(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error

// page serves h to a logged-in session: without one, the login page.
func (u *UI) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, c, err := u.session(r)
		if err == nil {
			err = h(w, r, s, c)
		}
		if err != nil {
			u.fail(w, r, s, err)
		}
	}
}

// form serves h to a logged-in session's form, whose field csrf must
// be the session's CSRF token: a form posted from another site is
// refused.
func (u *UI) form(h handler) http.HandlerFunc {
	return u.page(func(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
		if err := auth.CheckCSRF(s.secret, r.PostFormValue(auth.CSRFField)); err != nil {
			return &server.APIError{Status: http.StatusForbidden, Detail: "the form is not this session's (no CSRF token, or another's): reload the page and try again"}
		}
		return h(w, r, s, c)
	})
}

// fail answers a page whose API call failed: back to the login page,
// with a message, when the session is gone (the API's 401), else an
// error page with the API's message (htmx puts its main part in the
// page's: the htmx-config of layout.html). A fragment gets the status
// alone; one htmx asked for also says where to go (HX-Redirect: htmx
// loads the login page, which comes back to the page after it).
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *Session, err error) {
	status := http.StatusInternalServerError
	msg := err.Error()
	var ae *server.APIError
	if errors.As(err, &ae) {
		status, msg = ae.Status, ae.Detail
		if msg == "" {
			msg = ae.Title
		}
	}
	if errors.Is(err, errNoSession) || status == http.StatusUnauthorized {
		why := "login"
		if status == http.StatusUnauthorized {
			why = "expired"
			u.clearCookie(w)
		}
		q := url.Values{"m": {why}}
		if next := pageURL(r); next != "" {
			q.Set("next", next)
		}
		if isHX(r) || r.URL.Query().Has("fragment") {
			if isHX(r) {
				w.Header().Set("HX-Redirect", "/login?"+q.Encode())
			}
			http.Error(w, "the session has ended", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
		return
	}
	u.render(w, status, "error", &ErrorPage{Page: Page{Title: http.StatusText(status), Session: s}, Status: status, Message: msg})
}

func (u *UI) setCookie(w http.ResponseWriter, value string, age time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: value, Path: "/", MaxAge: int(age.Seconds()),
		HttpOnly: true, Secure: u.opt.Secure, SameSite: http.SameSiteStrictMode})
}

func (u *UI) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: u.opt.Secure, SameSite: http.SameSiteStrictMode})
}

// loginMessages are what the login page may say, by the m of its URL:
// never text from the URL itself.
var loginMessages = map[string]string{
	"login":   "Log in with a token to see this page.",
	"expired": "Your session has ended: it expired, or its token is expired or revoked. Log in again.",
	"logout":  "You are logged out.",
}

// loginPage asks for a token. It makes no call to the API: nothing to
// refuse before the user has logged in.
func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	u.render(w, http.StatusOK, "login", &LoginPage{Page: Page{Title: "Log in"}, Message: loginMessages[q.Get("m")], Next: localPath(q.Get("next"))})
}

// login opens a session on the token with the API (which keeps it:
// the cookie holds the session's secret, never the token).
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	next := localPath(r.PostFormValue("next"))
	again := func(status int, msg string) {
		u.render(w, status, "login", &LoginPage{Page: Page{Title: "Log in"}, Error: msg, Next: next})
	}
	if err := auth.CheckFormat(tok); err != nil {
		again(http.StatusUnauthorized, "That is not a wfsh token: "+err.(*auth.Error).Reason+".")
		return
	}
	var ns server.NewSession
	err := u.client(tok).Do(r.Context(), "POST", "/sessions", nil, &ns)
	var ae *server.APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		again(http.StatusUnauthorized, "The token is unknown, expired or revoked.")
		return
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		again(http.StatusForbidden, "A worker token cannot browse: log in with an admin, developer or viewer token.")
		return
	case err != nil:
		u.fail(w, r, nil, err)
		return
	}
	u.setCookie(w, ns.Secret, time.Until(ns.ExpiresAt))
	if next == "" {
		next = "/runs"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the browser's session on the server, and its cookie (the
// token stays valid: revoke it on the tokens page to end every session
// on it).
func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(auth.SessionCookie); err == nil {
		if auth.CheckCSRF(c.Value, r.PostFormValue(auth.CSRFField)) != nil {
			http.Error(w, "the form is not this session's", http.StatusForbidden)
			return
		}
		// A session already ended (401) is as good as ended now.
		var ae *server.APIError
		if err := u.sessionClient(c.Value).Do(r.Context(), "DELETE", "/sessions/current", nil, nil); err != nil &&
			!(errors.As(err, &ae) && ae.Status == http.StatusUnauthorized) {
			u.fail(w, r, nil, err)
			return
		}
	}
	u.clearCookie(w)
	http.Redirect(w, r, "/login?m=logout", http.StatusSeeOther)
}

// isHX says whether htmx sent r (header HX-Request).
func isHX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// hxTarget is the id of the element htmx sent r to fill (header
// HX-Target), "" for a request htmx did not send.
func hxTarget(r *http.Request) string {
	if !isHX(r) {
		return ""
	}
	return r.Header.Get("HX-Target")
}

// pageURL is the page (path and query) the browser shows while it sends
// r: the one htmx says it is on (HX-Current-URL), else r's own for a
// GET; "" when none is a path of this site.
func pageURL(r *http.Request) string {
	if isHX(r) {
		u, err := url.Parse(r.Header.Get("HX-Current-URL"))
		if err != nil || u.Host != r.Host {
			return ""
		}
		return localPath(u.RequestURI())
	}
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	return ""
}

// back is where a form that changes the page it was sent from goes
// next: that page again when htmx sent it (htmx then puts the page's
// new body in place of the old), else to.
func back(r *http.Request, to string) string {
	if p := pageURL(r); isHX(r) && p != "" {
		return p
	}
	return to
}

// seeOther answers a form that leads to another page (a new run's): a
// 303 to it, or, when htmx sent the form, HX-Redirect (htmx loads it).
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	if isHX(r) {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// localPath is p when it is a path of this site, else "".
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return ""
	}
	return p
}
