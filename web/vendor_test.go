package web

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"
)

// TestVendoredAssets: the third-party files wfsh embeds under
// static/vendor are the ones `make ui-assets` fetched and checked
// (scripts/ui/assets.sh): each matches its line of SHA256SUMS, no file is
// there unlisted, and each package of VERSIONS has its licence.
func TestVendoredAssets(t *testing.T) {
	sums, err := fs.ReadFile(files, "static/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: %q is not `SUM  FILE`", sc.Text())
		}
		b, err := fs.ReadFile(files, "static/vendor/"+name)
		if err != nil {
			t.Errorf("SHA256SUMS lists %s: %v", name, err)
			continue
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s: changed by hand? run make ui-assets", name, got, sum)
		}
		listed[name] = true
	}
	fs.WalkDir(files, "static/vendor", func(p string, d fs.DirEntry, err error) error {
		name := strings.TrimPrefix(p, "static/vendor/")
		if err == nil && !d.IsDir() && name != "SHA256SUMS" && !listed[name] {
			t.Errorf("%s is not in SHA256SUMS", p)
		}
		return err
	})
	versions, err := fs.ReadFile(files, "static/vendor/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(versions)), "\n")
	if len(lines) < 4 {
		t.Errorf("VERSIONS lists %d packages: %q", len(lines), lines)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || !strings.HasPrefix(f[2], "sha512-") {
			t.Errorf("VERSIONS: %q is not `PACKAGE VERSION INTEGRITY`", l)
			continue
		}
		dir := strings.ReplaceAll(strings.TrimPrefix(f[0], "@"), "/", "-")
		if !listed[dir+"/LICENSE"] {
			t.Errorf("%s %s: no LICENSE beside its files", f[0], f[1])
		}
	}
}
