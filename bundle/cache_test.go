package bundle

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type failReader struct{}

func (failReader) Read([]byte) (int, error) {
	return 0, errors.New("read, though the cache held the bundle")
}

func packed(t *testing.T) ([]byte, Info, map[string]string) {
	src := t.TempDir()
	write(t, src, map[string]string{"flow.star": "x = 1\n", "lib/a.star": "a = 1\n"})
	archive, info := pack(t, src)
	want := tree(t, src)
	return archive, info, want
}

// TestCacheExtract: a bundle is unpacked once under its hash and then
// reused without reading the archive again.
func TestCacheExtract(t *testing.T) {
	archive, info, want := packed(t)
	c := Cache{Dir: filepath.Join(t.TempDir(), "bundles")}
	if _, ok := c.Lookup(info.Hash); ok {
		t.Fatal("an empty cache holds the bundle")
	}
	dir, err := c.Extract(info.Hash, bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(c.Dir, info.Hash) {
		t.Errorf("dir = %s", dir)
	}
	sameTree(t, tree(t, dir), want)
	if d, ok := c.Lookup(info.Hash); !ok || d != dir {
		t.Errorf("Lookup = %s, %v", d, ok)
	}
	if d, err := c.Extract(info.Hash, failReader{}); err != nil || d != dir {
		t.Errorf("again: %s, %v", d, err)
	}
	leftovers(t, c.Dir, info.Hash)
}

// leftovers fails unless dir holds only the named bundles.
func leftovers(t *testing.T, dir string, want ...string) {
	t.Helper()
	des, _ := os.ReadDir(dir)
	var got []string
	for _, d := range des {
		got = append(got, d.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the cache holds %v, want %v", got, want)
	}
}

// TestCacheRefuses: an archive that is not the one named, or is cut
// short, or a name that is not a hash, leaves nothing in the cache.
func TestCacheRefuses(t *testing.T) {
	archive, info, _ := packed(t)
	for _, c := range []struct {
		name, hash, want string
		data             []byte
	}{
		{"another archive", info.Hash, "the archive's hash is", craft(t, []member{reg("flow.star", "evil")}, nil)},
		{"bytes after the archive", info.Hash, "reading the archive: unexpected EOF", append(append([]byte(nil), archive...), "more"...)},
		{"cut short", info.Hash, "unexpected EOF", archive[:len(archive)/2]},
		{"not a hash", "../../etc", "is not a bundle hash", archive},
		{"upper case", strings.ToUpper(info.Hash), "is not a bundle hash", archive},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := Cache{Dir: t.TempDir()}
			_, err := cache.Extract(c.hash, bytes.NewReader(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
			leftovers(t, cache.Dir)
		})
	}
}

// TestCacheConcurrent: workers extracting the same bundle at once all
// get the same whole tree, and no temporary directory is left.
func TestCacheConcurrent(t *testing.T) {
	archive, info, want := packed(t)
	c := Cache{Dir: t.TempDir()}
	const n = 8
	dirs := make([]string, n)
	errs := make([]error, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			// A slow reader, so that the extractions overlap.
			dirs[i], errs[i] = c.Extract(info.Hash, io.MultiReader(bytes.NewReader(archive[:len(archive)/2]), bytes.NewReader(archive[len(archive)/2:])))
		})
	}
	start.Done()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || dirs[i] != filepath.Join(c.Dir, info.Hash) {
			t.Errorf("extraction %d: %s, %v", i, dirs[i], errs[i])
		}
	}
	sameTree(t, tree(t, filepath.Join(c.Dir, info.Hash)), want)
	leftovers(t, c.Dir, info.Hash)
}

// TestCacheCheckout: each run gets a copy of the cached tree; what it
// writes there reaches neither the cache nor the next run's copy.
func TestCacheCheckout(t *testing.T) {
	archive, info, want := packed(t)
	c := Cache{Dir: filepath.Join(t.TempDir(), "bundles")}
	if err := c.Checkout(info.Hash, filepath.Join(t.TempDir(), "r0")); err == nil {
		t.Fatal("a checkout of a bundle not in the cache succeeded")
	}
	cached, err := c.Extract(info.Hash, bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	r1, r2 := filepath.Join(work, "r1"), filepath.Join(work, "r2")
	if err := c.Checkout(info.Hash, r1); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, r1); !maps.Equal(got, want) {
		t.Fatalf("checkout holds %v, want %v", got, want)
	}
	os.WriteFile(filepath.Join(r1, "lib", "a.star"), []byte("changed by run 1\n"), 0o644)
	os.WriteFile(filepath.Join(r1, "marker"), nil, 0o644)
	if err := c.Checkout(info.Hash, r2); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{cached, r2} {
		if got := tree(t, dir); !maps.Equal(got, want) {
			t.Errorf("after run 1 wrote in its copy, %s holds %v, want %v", dir, got, want)
		}
	}
	// A checkout never writes into an existing tree.
	if err := c.Checkout(info.Hash, r1); err == nil {
		t.Error("a checkout over an existing directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(r1, "marker")); err != nil {
		t.Errorf("a refused checkout touched the existing tree: %v", err)
	}
}
