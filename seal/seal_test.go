package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func box(t *testing.T) *Box {
	t.Helper()
	key := make([]byte, KeySize)
	rand.Read(key)
	b, err := New(key, "test")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	b := box(t)
	for _, v := range [][]byte{nil, []byte("x"), []byte(`{"user": "etl", "password": "hunter2"}`), bytes.Repeat([]byte{0, 255}, 1<<16)} {
		sealed, err := b.Seal("DB", v)
		if err != nil {
			t.Fatal(err)
		}
		if sealed[0] != 1 || len(sealed) != 1+12+len(v)+16 {
			t.Errorf("sealed %d bytes as %d bytes, version %d", len(v), len(sealed), sealed[0])
		}
		got, err := b.Open("DB", sealed)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Open = %q, %v; want %q", got, err, v)
		}
	}
}

// TestNonceEachTime: sealing the same value twice gives different bytes,
// and neither holds the value.
func TestNonceEachTime(t *testing.T) {
	b := box(t)
	v := []byte("a value long enough to be found if it were there in clear: hunter2hunter2")
	one, _ := b.Seal("K", v)
	two, _ := b.Seal("K", v)
	if bytes.Equal(one, two) || bytes.Equal(one[1:13], two[1:13]) {
		t.Error("two seals of one value gave the same bytes or nonce")
	}
	for _, s := range [][]byte{one, two} {
		if bytes.Contains(s, v) || bytes.Contains(s, []byte("hunter2")) {
			t.Error("the value appears in the sealed bytes")
		}
	}
}

// TestTamper: flipping any bit of any byte, cutting or lengthening the
// sealed value makes it not open.
func TestTamper(t *testing.T) {
	b := box(t)
	sealed, _ := b.Seal("TOKEN", []byte("s3cret"))
	for i := range sealed {
		for bit := range 8 {
			bad := bytes.Clone(sealed)
			bad[i] ^= 1 << bit
			if got, err := b.Open("TOKEN", bad); err == nil {
				t.Fatalf("byte %d bit %d flipped: opened as %q", i, bit, got)
			}
		}
	}
	for _, bad := range [][]byte{sealed[:len(sealed)-1], sealed[:13], sealed[:1], nil, append(bytes.Clone(sealed), 0)} {
		if _, err := b.Open("TOKEN", bad); err == nil {
			t.Errorf("%d bytes of %d opened", len(bad), len(sealed))
		}
	}
	if _, err := b.Open("TOKEN", append([]byte{2}, sealed[1:]...)); err == nil || !strings.Contains(err.Error(), "of version 2, which this wfsh does not know") {
		t.Errorf("version 2: %v", err)
	}
}

// TestWrongNameOrKey: a value copied to another secret, or opened under
// another key, does not open.
func TestWrongNameOrKey(t *testing.T) {
	b := box(t)
	sealed, _ := b.Seal("PROD_DB", []byte("s3cret"))
	for _, name := range []string{"DEV_DB", "PROD_D", "PROD_DB\x00", "prod_db", ""} {
		_, err := b.Open(name, sealed)
		if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "the value of "+name+" does not open") {
			t.Errorf("opened as %q: %v", name, err)
		}
	}
	if _, err := box(t).Open("PROD_DB", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("another key: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	enc := base64.StdEncoding.EncodeToString(key)
	if got, err := ParseKey(" " + enc + "\n"); err != nil || !bytes.Equal(got, key) {
		t.Errorf("ParseKey = %x, %v", got, err)
	}
	for s, want := range map[string]string{
		"":               "empty",
		"not base64!":    "not standard base64",
		enc[:len(enc)-4]: "30 bytes once decoded, not 32",
		base64.StdEncoding.EncodeToString(make([]byte, 64)):                  "64 bytes once decoded, not 32",
		base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)): "not standard base64",
	} {
		_, err := ParseKey(s)
		if err == nil || !strings.Contains(err.Error(), want) || (len(s) > 8 && strings.Contains(err.Error(), s)) {
			t.Errorf("ParseKey(%q): %v, want %q", s, err, want)
		}
	}
}

func TestLoadFromEnv(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	dir := t.TempDir()
	b, err := Load(base64.StdEncoding.EncodeToString(key), dir)
	if err != nil || b.From() != EnvKey {
		t.Fatalf("Load: %v, %v", b, err)
	}
	want, _ := New(key, "")
	sealed, _ := want.Seal("A", []byte("v"))
	if got, err := b.Open("A", sealed); err != nil || string(got) != "v" {
		t.Errorf("the key from the environment is not the key given: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		t.Error("a key file was made though the environment held the key")
	}
	if _, err := Load("bad", dir); err == nil || !strings.Contains(err.Error(), "seal: WFSH_SECRET_KEY: not standard base64") {
		t.Errorf("a malformed WFSH_SECRET_KEY: %v", err)
	}
}

// TestKeyFile: the first Load makes a 0600 key file; later ones read the
// same key; one that others may read is refused.
func TestKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b1, err := Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || b1.From() != path {
		t.Fatalf("key file: %v, %v, from %s", fi, err, b1.From())
	}
	sealed, _ := b1.Seal("A", []byte("v"))
	b2, err := Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b2.Open("A", sealed); err != nil || string(got) != "v" {
		t.Errorf("the second start has another key: %v", err)
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("the directory holds %d entries, not the key file alone", len(des))
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		os.Chmod(path, mode)
		_, err := Load("", dir)
		want := fmt.Sprintf("seal: the key file %s has mode %04o: its group or others have access; it must be the owner's alone (chmod 600 %s)", path, mode, path)
		if err == nil || err.Error() != want {
			t.Errorf("mode %v: %v (want %q...)", mode, err, want)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := Load("", dir); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("short\n"), 0o600)
	if _, err := Load("", dir); err == nil || !strings.Contains(err.Error(), "the key file "+path+": not standard base64") {
		t.Errorf("a malformed key file: %v", err)
	}
}

// TestKeyFileRace: servers starting at once on one directory agree on
// one key.
func TestKeyFileRace(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	boxes := make([]*Box, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if boxes[i], err = Load("", dir); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sealed, _ := boxes[0].Seal("A", []byte("v"))
	for i, b := range boxes {
		if _, err := b.Open("A", sealed); err != nil {
			t.Errorf("server %d has another key", i)
		}
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("the directory holds %d entries, not the key file alone", len(des))
	}
}
