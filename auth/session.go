package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// SessionCookie names the web UI's session cookie. It holds the token the
// user logged in with (HttpOnly, SameSite=Strict, Secure under TLS): the
// server keeps no session of its own, so a session lives as long as its
// token and ends with the token's revocation, on every server sharing
// the database.
const SessionCookie = "wfsh_session"

// CSRFHeader carries the CSRF token of a state-changing request made with
// the session cookie (forms carry it as the field CSRFField).
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf"
)

// CSRF is the CSRF token of a session on token: an HMAC of a fixed label
// under the token. A page of the session gets it to put in its forms and
// requests; another site cannot compute it without the token, which the
// cookie keeps from scripts.
func CSRF(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("wfsh csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether got is the CSRF token of the session on
// token: nil, or an ErrForbidden.
func CheckCSRF(token, got string) error {
	if got == "" {
		return &Error{Err: ErrForbidden, Reason: "a request made with the session cookie needs its CSRF token (" + CSRFHeader + ")"}
	}
	if subtle.ConstantTimeCompare([]byte(CSRF(token)), []byte(got)) != 1 {
		return &Error{Err: ErrForbidden, Reason: "the CSRF token is not this session's"}
	}
	return nil
}
