// Package auth is the server's authentication and authorisation, without
// HTTP or storage: API tokens (made, hashed, read from an Authorization
// header), the roles they carry, and one table of what each role may do.
// The server looks a token up by its hash, builds the Principal and asks
// Allow before every action; the rules that depend on data (a worker's
// pool, the runs it holds) are decided here from the Scope it passes.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// Prefix starts every token, so that a token is recognised where it
// leaks (logs, a repository) and told apart from other secrets.
const Prefix = "wfsh_"

// tokenBytes is a token's randomness: 256 bits.
const tokenBytes = 32

// encoding writes the random part in lowercase base32 without padding:
// letters and digits only, so a double click selects the whole token.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenLen is the length of a token: the prefix and 52 characters.
var tokenLen = len(Prefix) + encoding.EncodedLen(tokenBytes)

// A Token is a new token: Plaintext is shown once, to whoever asked for
// it; the server keeps only Hash.
type Token struct {
	Plaintext string
	Hash      string
}

// New makes a token of 32 random bytes.
func New() Token {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand)
	plain := Prefix + encoding.EncodeToString(b)
	return Token{Plaintext: plain, Hash: Hash(plain)}
}

// Hash is what the server stores of a token and looks it up by: the
// SHA-256 of the plaintext, in hex. A fast hash is right here, where a
// password would need a slow one (bcrypt, argon2): a token is 256 random
// bits, so no guessing tries a meaningful part of them however fast each
// try is, and a fast, unsalted hash lets every request find its token by
// an index in one lookup, rather than compare a slow hash against each
// stored token.
func Hash(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// ID is a token's public name in listings and the audit log: the first
// 12 hex digits of its hash. It says which token without giving it away.
func ID(hash string) string { return hash[:min(12, len(hash))] }

// CheckFormat reports whether s has a token's form, so that the server
// can refuse a mistyped or foreign credential without a lookup.
func CheckFormat(s string) error {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return unauthenticated("the token does not start with %q", Prefix)
	}
	if len(s) != tokenLen {
		return unauthenticated("the token has %d characters, not %d", len(s), tokenLen)
	}
	if _, err := encoding.DecodeString(rest); err != nil {
		return unauthenticated("the token holds characters a token does not")
	}
	return nil
}

// Bearer returns the token of an Authorization header value of the form
// "Bearer TOKEN" (the scheme in any case), checked for form.
func Bearer(header string) (string, error) {
	if header == "" {
		return "", unauthenticated("no Authorization header")
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated("the Authorization header is not of the form \"Bearer TOKEN\"")
	}
	tok = strings.TrimLeft(tok, " ")
	if err := CheckFormat(tok); err != nil {
		return "", err
	}
	return tok, nil
}

func unauthenticated(format string, args ...any) error {
	return &Error{Err: ErrUnauthenticated, Reason: fmt.Sprintf(format, args...)}
}
