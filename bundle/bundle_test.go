package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// write makes the files of files under dir: name -> content; a name
// ending in "*" is made executable, one ending in "/" an empty directory.
func write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if d, ok := strings.CutSuffix(name, "/"); ok {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, mode = n, 0o755
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// tree describes what is under dir: slash-separated name -> "dir 0755"
// or "0644 content".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			got[filepath.ToSlash(rel)] = "dir " + fi.Mode().Perm().String()
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[filepath.ToSlash(rel)] = fi.Mode().Perm().String() + " " + string(b)
		default:
			got[filepath.ToSlash(rel)] = "other " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func pack(t *testing.T, dir string) ([]byte, Info) {
	t.Helper()
	var buf bytes.Buffer
	info, err := Pack(dir, &buf, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

func sameTree(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %q", k, v)
		}
	}
}

// TestRoundTrip: what Pack packs, Unpack gives back, with modes
// normalised, hidden directories left out and links inside the tree
// stored as what they lead to.
func TestRoundTrip(t *testing.T) {
	src := t.TempDir()
	long := strings.Repeat("long-directory-name/", 8) + "ü.star" // past ustar's 100 bytes: a PAX record
	write(t, src, map[string]string{
		"flow.star": "x = 1\n", "lib/util.star": "y = 2\n", "bin/run.sh*": "#!/bin/sh\n",
		"data/empty/": "", ".env": "K=v\n", ".git/HEAD": "ref\n", "lib/.cache/x": "no\n", long: "z = 3\n",
	})
	if err := os.Chmod(filepath.Join(src, "lib/util.star"), 0o600); err != nil {
		t.Fatal(err)
	}
	symlink(t, "util.star", filepath.Join(src, "lib/alias.star"))
	symlink(t, "lib", filepath.Join(src, "liblink"))
	symlink(t, "/nowhere", filepath.Join(src, ".hidden-link")) // a hidden link to no directory is still a link
	os.Remove(filepath.Join(src, ".hidden-link"))

	archive, info := pack(t, src)
	dst := t.TempDir()
	if err := Unpack(bytes.NewReader(archive), dst, Limits{}); err != nil {
		t.Fatal(err)
	}
	dirs := []string{"bin", "data", "data/empty", "lib", "liblink"}
	want := map[string]string{
		"flow.star": "-rw-r--r-- x = 1\n", "lib/util.star": "-rw-r--r-- y = 2\n", "bin/run.sh": "-rwxr-xr-x #!/bin/sh\n",
		".env": "-rw-r--r-- K=v\n", "lib/alias.star": "-rw-r--r-- y = 2\n",
		"liblink/util.star": "-rw-r--r-- y = 2\n", "liblink/alias.star": "-rw-r--r-- y = 2\n", long: "-rw-r--r-- z = 3\n",
	}
	for d := strings.TrimSuffix(long, "/ü.star"); d != "."; d = filepath.Dir(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		want[d] = "dir -rwxr-xr-x"
	}
	sameTree(t, tree(t, dst), want)
	sum := sha256.Sum256(archive)
	if info.Hash != hex.EncodeToString(sum[:]) || info.Size != int64(len(archive)) || info.Files != 8 {
		t.Errorf("info = %+v; archive: %d bytes, sha256 %x", info, len(archive), sum)
	}
}

// TestDeterministic: the same tree gives the same bytes, whatever the
// files' times, modes other than executable, and the order they were
// made in; a changed file gives another hash.
func TestDeterministic(t *testing.T) {
	files := map[string]string{"flow.star": "x = 1\n", "a/b/c.txt": "c\n", "a.txt": "a\n", "run*": "#!/bin/sh\n"}
	one, two := t.TempDir(), t.TempDir()
	write(t, one, files)
	for _, name := range []string{"run*", "a.txt", "a/b/c.txt", "flow.star"} { // another order
		write(t, two, map[string]string{name: files[name]})
	}
	b1, i1 := pack(t, one)
	b1again, _ := pack(t, one)
	if !bytes.Equal(b1, b1again) {
		t.Fatal("packing the same tree twice gave different bytes")
	}
	later := time.Now().Add(-48 * time.Hour)
	filepath.WalkDir(two, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(p, later, later)
		}
		return err
	})
	os.Chmod(filepath.Join(two, "a.txt"), 0o600)
	os.Chmod(filepath.Join(two, "run"), 0o700)
	b2, i2 := pack(t, two)
	if !bytes.Equal(b1, b2) || i1 != i2 {
		t.Fatalf("the same tree, touched, gave %s, not %s", i2.Hash, i1.Hash)
	}
	write(t, two, map[string]string{"a/b/c.txt": "C\n"})
	if _, i3 := pack(t, two); i3.Hash == i1.Hash {
		t.Error("a changed file kept the hash")
	}
	os.Chmod(filepath.Join(one, "a.txt"), 0o755)
	if _, i4 := pack(t, one); i4.Hash == i1.Hash {
		t.Error("a file made executable kept the hash")
	}
}

// TestPackRefuses: links leading out of the tree, nowhere, or round in
// a circle, special files and trees over the limits are refused, naming
// what is wrong.
func TestPackRefuses(t *testing.T) {
	outside := t.TempDir()
	var rel string // the link dir link outside made
	write(t, outside, map[string]string{"secret.txt": "TOP SECRET\n"})
	for _, c := range []struct {
		name  string
		setup func(dir string)
		lim   Limits
		want  string
	}{
		{"file link outside", func(dir string) { symlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(dir, "lib/s.txt")) },
			Limits{}, "bundle: lib/s.txt: a symbolic link to " + filepath.Join(outside, "secret.txt") + ", outside the flow's directory"},
		{"dir link outside", func(dir string) {
			var err error
			if rel, err = filepath.Rel(filepath.Join(dir, "lib"), outside); err != nil {
				t.Fatal(err)
			}
			symlink(t, rel, filepath.Join(dir, "lib/out"))
		}, Limits{}, "bundle: lib/out: a symbolic link to %REL%, outside the flow's directory"},
		{"dangling", func(dir string) { symlink(t, "missing", filepath.Join(dir, "lib/gone")) },
			Limits{}, "bundle: lib/gone: a symbolic link to missing, which does not resolve"},
		{"cycle", func(dir string) { symlink(t, "..", filepath.Join(dir, "lib/up")) },
			Limits{}, "bundle: lib/up: a symbolic link to .., a directory it is in"},
		{"fifo", func(dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "lib/pipe"), 0o644); err != nil {
				t.Skip(err)
			}
		}, Limits{}, "bundle: lib/pipe is a FIFO: a bundle holds only regular files and directories"},
		{"too many files", func(dir string) {}, Limits{MaxFiles: 2}, "more than the 2 files and directories a bundle may hold"},
		{"too big", func(dir string) {
			write(t, dir, map[string]string{"data/big.csv": strings.Repeat("x", 3<<20), "data/mid.csv": strings.Repeat("x", 1<<20), "small.txt": "x"})
		}, Limits{MaxBytes: 2 << 20}, "holds 4.0 MiB, more than the 2.0 MiB a bundle may hold; the biggest files: data/big.csv (3.0 MiB), data/mid.csv (1.0 MiB), flow.star (0.0 MiB)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{"flow.star": "x = 1\n", "lib/ok.star": "y = 2\n"})
			c.setup(dir)
			var buf bytes.Buffer
			_, err := Pack(dir, &buf, c.lim)
			want := strings.ReplaceAll(c.want, "%REL%", rel)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			if buf.Len() != 0 {
				t.Errorf("a refused tree wrote %d bytes", buf.Len())
			}
		})
	}
}
