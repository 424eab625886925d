package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// member is one entry of an archive made by hand.
type member struct {
	hdr  tar.Header
	body string
}

func reg(name, body string) member {
	return member{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body}
}

// craft writes entries as a gzipped tar stream, as a hostile client
// might, followed by trailing bytes inside the gzip stream.
func craft(t testing.TB, entries []member, trailing []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range entries {
		hdr := m.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("%s: %v", hdr.Name, err)
		}
		if _, err := tw.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Write(trailing)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// target makes base/out, the directory to unpack into, and a file beside
// it; only out may change.
func target(t testing.TB) (base, out string) {
	base = t.TempDir()
	out = filepath.Join(base, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "beside"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	return base, out
}

// untouched fails unless base holds only out and the file beside it, as
// target made them, and out holds no links or special files.
func untouched(t testing.TB, base string) {
	t.Helper()
	des, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 2 || des[0].Name() != "beside" || des[1].Name() != "out" {
		var names []string
		for _, d := range des {
			names = append(names, d.Name())
		}
		t.Fatalf("the directory around the target holds %v", names)
	}
	if b, err := os.ReadFile(filepath.Join(base, "beside")); err != nil || string(b) != "keep" {
		t.Fatalf("the file beside the target: %q, %v", b, err)
	}
	filepath.WalkDir(filepath.Join(base, "out"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !d.Type().IsRegular() {
			t.Fatalf("%s is %v", p, d.Type())
		}
		return err
	})
}

// TestUnpackRefuses: each hostile archive is refused with an error that
// names the entry, and nothing is written outside the target.
func TestUnpackRefuses(t *testing.T) {
	big := strings.Repeat("\x00", 4<<20) // compresses to a few KiB
	for _, c := range []struct {
		name    string
		entries []member
		lim     Limits
		want    string
	}{
		{"dotdot", []member{reg("../evil", "x")}, Limits{}, `entry "../evil": a path with ".."`},
		{"dotdot inside", []member{reg("a/../../evil", "x")}, Limits{}, `entry "a/../../evil": a path with ".."`},
		{"absolute", []member{reg("/tmp/evil", "x")}, Limits{}, `entry "/tmp/evil": an absolute path`},
		{"dot", []member{reg("./a", "x")}, Limits{}, `entry "./a": not a clean relative path`},
		{"double slash", []member{reg("a//b", "x")}, Limits{}, `entry "a//b": not a clean relative path`},
		{"empty", []member{reg("", "x")}, Limits{}, `entry "": no name`},
		{"symlink", []member{{tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, ""}}, Limits{},
			`entry "l": a symbolic link (to "/etc/passwd")`},
		{"symlink then write through it", []member{{tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: ".."}, ""}, reg("l/evil", "x")}, Limits{},
			`entry "l": a symbolic link`},
		{"hard link", []member{reg("a", "x"), {tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}, ""}}, Limits{},
			`entry "h": a hard link (to "/etc/passwd")`},
		{"device", []member{{tar.Header{Name: "zero", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 5}, ""}}, Limits{}, `entry "zero": a device`},
		{"fifo", []member{{tar.Header{Name: "p", Typeflag: tar.TypeFifo}, ""}}, Limits{}, `entry "p": of type '6'`},
		{"duplicate", []member{reg("a/x", "one"), reg("a/x", "two")}, Limits{}, `entry "a/x": given twice`},
		{"duplicate dir", []member{{tar.Header{Name: "d/", Typeflag: tar.TypeDir}, ""}, {tar.Header{Name: "d", Typeflag: tar.TypeDir}, ""}}, Limits{}, `entry "d": given twice`},
		{"dir over file", []member{reg("a", "x"), {tar.Header{Name: "a/", Typeflag: tar.TypeDir}, ""}}, Limits{}, `entry "a/": given twice`},
		{"file under file", []member{reg("a", "x"), reg("a/b", "y")}, Limits{}, `entry "a/b": `},
		{"bomb", []member{reg("big", big)}, Limits{MaxBytes: 1 << 20}, `entry "big": the files expand past the 1.0 MiB a bundle may hold`},
		{"bomb in pieces", []member{reg("a", big[:600<<10]), reg("b", big[:600<<10])}, Limits{MaxBytes: 1 << 20}, `entry "b": the files expand past`},
		{"too many", []member{reg("a", ""), reg("b", ""), reg("c", "")}, Limits{MaxFiles: 2}, `entry "c": more than the 2 files`},
		{"global header", []member{{tar.Header{Name: "g", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}}, ""}}, Limits{}, `of type 'g'`},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, out := target(t)
			err := Unpack(bytes.NewReader(craft(t, c.entries, nil)), out, c.lim)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
			untouched(t, base)
			if c.name == "duplicate" {
				if b, _ := os.ReadFile(filepath.Join(out, "a/x")); string(b) != "one" {
					t.Errorf("the second a/x overwrote the first: %q", b)
				}
			}
			if strings.HasPrefix(c.name, "bomb") {
				if fi, err := os.Stat(filepath.Join(out, "big")); err == nil {
					t.Errorf("the bomb wrote %d bytes", fi.Size())
				}
			}
		})
	}
}

// TestUnpackRefusesStreams: what is not a whole bundle is refused.
func TestUnpackRefusesStreams(t *testing.T) {
	good := craft(t, []member{reg("a", "x")}, nil)
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"not gzip", "bundle: not a bundle", []byte("PK\x03\x04 a zip file")},
		{"cut short", "unexpected EOF", good[:len(good)-6]},
		{"trailing payload", "data after the end of the archive", craft(t, []member{reg("a", "x")}, make([]byte, 1<<20))},
		{"checksum", "checksum", append(good[:len(good)-8:len(good)-8], 0, 0, 0, 0, good[len(good)-4], good[len(good)-3], good[len(good)-2], good[len(good)-1])},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, out := target(t)
			err := Unpack(bytes.NewReader(c.data), out, Limits{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
			untouched(t, base)
		})
	}
}

// TestUnpackExisting: an entry that exists in the target is not
// overwritten, nor is a link there followed out of it.
func TestUnpackExisting(t *testing.T) {
	base, out := target(t)
	if err := os.Symlink(filepath.Join(base, "beside"), filepath.Join(out, "a")); err != nil {
		t.Fatal(err)
	}
	err := Unpack(bytes.NewReader(craft(t, []member{reg("a", "evil")}, nil)), out, Limits{})
	if err == nil || !strings.Contains(err.Error(), `entry "a"`) {
		t.Errorf("err = %v, want one naming entry \"a\"", err)
	}
	os.Remove(filepath.Join(out, "a"))
	untouched(t, base)
}

// FuzzUnpack: whatever the archive, Unpack never panics, never writes
// outside its target, and makes only files and directories. The fuzzer
// gives the tar stream; gzip would only make it fail checksums. Each
// run makes directories, so bound minimizing (-fuzzminimizetime=100x):
// the default minute per new input looks like a stall.
func FuzzUnpack(f *testing.F) {
	dir := f.TempDir()
	write(f, dir, map[string]string{"flow.star": "x = 1\n", "lib/a.star": "a = 1\n", "run*": "#!/bin/sh\n"})
	var buf bytes.Buffer
	if _, err := Pack(dir, &buf, Limits{}); err != nil {
		f.Fatal(err)
	}
	f.Add(gunzip(f, buf.Bytes()))
	for _, entries := range [][]member{
		{reg("../evil", "x")},
		{{tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: ".."}, ""}, reg("l/evil", "x")},
		{{tar.Header{Name: "d/", Typeflag: tar.TypeDir}, ""}, reg("d/x", "y"), reg("d/x", "z")},
		{{tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../beside"}, ""}},
	} {
		f.Add(gunzip(f, craft(f, entries, nil)))
	}
	f.Fuzz(func(t *testing.T, tarData []byte) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(tarData)
		zw.Close()
		base, out := target(t)
		Unpack(bytes.NewReader(z.Bytes()), out, Limits{MaxBytes: 1 << 20, MaxFiles: 100})
		untouched(t, base)
	})
}

func gunzip(t testing.TB, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
