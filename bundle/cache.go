package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A Cache keeps unpacked bundles on a worker, one directory per hash
// (Dir/<hash>), shared by the worker's runs and by other workers using
// the same Dir. A directory there is always a whole, verified tree: it
// is unpacked beside it and renamed into place.
type Cache struct {
	Dir    string
	Limits Limits
}

// ValidHash reports whether s is a bundle hash: 64 lowercase hex digits.
func ValidHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Lookup returns the directory of the bundle hash if the cache holds it,
// so that a worker need not download it again.
func (c Cache) Lookup(hash string) (string, bool) {
	if !ValidHash(hash) {
		return "", false
	}
	dir := filepath.Join(c.Dir, hash)
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

// Extract unpacks the bundle read from r into the cache and returns its
// directory. The archive's SHA-256 must be hash; it is computed as the
// archive is read, and a tree whose archive does not match is removed,
// never put in place. If the cache holds the bundle already, r is not
// read. Several goroutines or processes may extract the same hash at
// once: each unpacks into a directory of its own, the first rename wins
// and the others remove theirs.
func (c Cache) Extract(hash string, r io.Reader) (string, error) {
	if !ValidHash(hash) {
		return "", fmt.Errorf("bundle: %q is not a bundle hash", hash)
	}
	if dir, ok := c.Lookup(hash); ok {
		return dir, nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("bundle: cache: %w", err)
	}
	tmp, err := os.MkdirTemp(c.Dir, ".tmp-"+hash[:12]+"-")
	if err != nil {
		return "", fmt.Errorf("bundle: cache: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // as the directories in it
		os.RemoveAll(tmp)
		return "", fmt.Errorf("bundle: cache: %w", err)
	}
	dir, err := c.place(hash, tmp, r)
	if err != nil {
		os.RemoveAll(tmp)
	}
	return dir, err
}

// place unpacks into tmp, checks the hash and renames tmp into place.
func (c Cache) place(hash, tmp string, r io.Reader) (string, error) {
	h := sha256.New()
	tee := io.TeeReader(r, h)
	if err := Unpack(tee, tmp, c.Limits); err != nil {
		return "", err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // the rest, if any, is hashed too
		return "", fmt.Errorf("bundle: reading the archive: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return "", fmt.Errorf("bundle: the archive's hash is %s, not %s: it was altered or cut short", got, hash)
	}
	dir := filepath.Join(c.Dir, hash)
	err := os.Rename(tmp, dir)
	if err == nil {
		return dir, nil
	}
	if d, ok := c.Lookup(hash); ok { // another extraction won
		os.RemoveAll(tmp)
		return d, nil
	}
	return "", errors.Join(fmt.Errorf("bundle: cache: putting %s in place", hash), err)
}

// Checkout copies the cached tree of hash to dst, a directory that must
// not exist, for one run to work in: what a run writes beside its flow
// stays in its own copy and never reaches the cache or another run.
func (c Cache) Checkout(hash, dst string) error {
	src, ok := c.Lookup(hash)
	if !ok {
		return fmt.Errorf("bundle: %s is not in the cache", hash)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("bundle: checkout: %w", err)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("bundle: checkout: %w", err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		os.RemoveAll(dst)
		return fmt.Errorf("bundle: checkout of %s: %w", hash[:12], err)
	}
	return nil
}
