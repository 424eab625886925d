package seal

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFile is the key file's name in the server's data directory.
const KeyFile = "secret.key"

// Load makes the server's Box: from env, the value of WFSH_SECRET_KEY,
// when it is set (a malformed value is an error, never a reason to fall
// back to the file); else from the key file in dir, made if missing.
func Load(env, dir string) (*Box, error) {
	if env != "" {
		key, err := ParseKey(env)
		if err != nil {
			return nil, fmt.Errorf("seal: %s: %w", EnvKey, err)
		}
		return New(key, EnvKey)
	}
	path := filepath.Join(dir, KeyFile)
	key, err := LoadKeyFile(path)
	if err != nil {
		return nil, err
	}
	return New(key, path)
}

// LoadKeyFile reads the key file at path, or makes it: 32 bytes from
// crypto/rand, in base64, mode 0600. The new file is written beside and
// linked into place, so that of two servers starting at once, one makes
// the key and both use it. A key file that its group or others may read
// or write is refused, as ssh refuses such a private key.
func LoadKeyFile(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := makeKeyFile(path); err != nil {
		return nil, fmt.Errorf("seal: making the key file: %w", err)
	}
	return readKeyFile(path)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: the key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: the key file %s has mode %04o: its group or others have access; it must be the owner's alone (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<10))
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("seal: the key file %s: %w", path, err)
	}
	return key, nil
}

func makeKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".secret.key-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(newKey()) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

func newKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails (crypto/rand)
	return key
}
