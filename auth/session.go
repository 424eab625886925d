package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// SessionCookie names the web UI's session cookie (HttpOnly,
// SameSite=Strict, Secure under TLS). It holds a session's secret, never
// an API token: the server keeps the session, by the secret's hash, with
// the token it was opened with and its expiry; logging out deletes it,
// and revoking the token ends it (docs/security.md).
const SessionCookie = "wfsh_session"

// SessionPrefix starts every session secret, which is otherwise made as
// a token is (32 random bytes), so that neither is taken for the other.
const SessionPrefix = "wfshs_"

// NewSession makes a session's secret: Plaintext goes in the cookie, the
// server keeps Hash.
func NewSession() Token {
	t := New()
	plain := SessionPrefix + strings.TrimPrefix(t.Plaintext, Prefix)
	return Token{Plaintext: plain, Hash: Hash(plain)}
}

// CheckSessionFormat reports whether s has a session secret's form.
func CheckSessionFormat(s string) error {
	rest, ok := strings.CutPrefix(s, SessionPrefix)
	if !ok || CheckFormat(Prefix+rest) != nil {
		return unauthenticated("the session cookie is not a wfsh session")
	}
	return nil
}

// CSRFHeader carries the CSRF token of a state-changing request made with
// the session cookie (forms carry it as the field CSRFField).
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf"
)

// CSRF is the CSRF token of the session of secret: an HMAC of a fixed
// label under the secret. A page of the session gets it to put in its
// forms and requests; another site cannot compute it without the secret,
// which the cookie keeps from scripts.
func CSRF(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("wfsh csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether got is the CSRF token of the session of
// secret: nil, or an ErrForbidden.
func CheckCSRF(secret, got string) error {
	if got == "" {
		return &Error{Err: ErrForbidden, Reason: "a request made with the session cookie needs its CSRF token (" + CSRFHeader + ")"}
	}
	if subtle.ConstantTimeCompare([]byte(CSRF(secret)), []byte(got)) != 1 {
		return &Error{Err: ErrForbidden, Reason: "the CSRF token is not this session's"}
	}
	return nil
}
