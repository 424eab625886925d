// Package seal encrypts secret values at rest: AES-256-GCM under one
// server key, each value bound to its secret's name. The key comes from
// WFSH_SECRET_KEY or from a key file made at first start
// (docs/security.md, "Secrets at rest").
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// EnvKey is the environment variable that may hold the key.
const EnvKey = "WFSH_SECRET_KEY"

// KeySize is the key's size: AES-256.
const KeySize = 32

// version1 starts every value sealed by this version: AES-256-GCM with a
// random 96-bit nonce. A later version may name its key, for rotation.
const version1 = 1

// ErrOpen is the error of a sealed value that does not open: sealed
// under another key or another name, or altered.
var ErrOpen = errors.New("does not open: sealed under another key or another name, or altered")

// A Box seals and opens values under one key; it is safe for concurrent
// use.
type Box struct {
	aead cipher.AEAD
	from string
}

// New makes a Box of a 32-byte key; from says where the key came from.
func New(key []byte, from string) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: a key of %d bytes, not %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, from: from}, nil
}

// From says where the key came from: EnvKey or the key file's path.
func (b *Box) From() string { return b.from }

// Seal encrypts the value of the secret name: a version byte, then the
// nonce, the ciphertext and the tag, with the version and the name as
// additional data. Its error is nil in version 1 (crypto/rand does not
// fail); it is there for versions whose key may be missing.
func (b *Box) Seal(name string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1, 1+len(plaintext)+b.aead.Overhead())
	out[0] = version1
	return b.aead.Seal(out, nil, plaintext, ad(version1, name)), nil
}

// Open decrypts what Seal sealed for the same name; any other name, key
// or byte gives an error that is ErrOpen.
func (b *Box) Open(name string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("seal: the value of %s is empty", name)
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("seal: the value of %s is of version %d, which this wfsh does not know", name, sealed[0])
	}
	plain, err := b.aead.Open(nil, nil, sealed[1:], ad(version1, name))
	if err != nil {
		return nil, fmt.Errorf("seal: the value of %s %w", name, ErrOpen)
	}
	return plain, nil
}

// ad is the additional data: the version, a label, and the name.
func ad(version byte, name string) []byte {
	return append([]byte{version}, "wfsh secret\x00"+name...)
}

// ParseKey reads a key in standard base64, surrounding space ignored.
// The errors never quote the value.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty: the key is 32 bytes in base64 (openssl rand -base64 32)")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not standard base64: the key is 32 bytes in base64 (openssl rand -base64 32)")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%d bytes once decoded, not %d (openssl rand -base64 32)", len(key), KeySize)
	}
	return key, nil
}
