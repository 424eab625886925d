package bundle

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxTrailing bounds what may follow the tar stream's end inside the
// gzip stream: the writer's padding, not a second payload.
const maxTrailing = 64 << 10

// Unpack extracts a bundle into dir, an existing directory that should
// be empty. It refuses, naming the entry, an entry whose name is
// absolute, holds "..", or is not in clean form; a symbolic link, a hard
// link, a device or any entry neither a regular file nor a directory; a
// name given twice or already present in dir; and an archive whose
// files expand past lim. Nothing is written outside dir, whatever the
// archive holds; after an error, dir may hold part of the tree.
// Files get mode 0644 or 0755, directories 0755.
func Unpack(r io.Reader, dir string, lim Limits) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("bundle: not a bundle: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer root.Close()
	u := &unpacker{root: root, lim: lim.withDefaults(), seen: map[string]bool{}}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("bundle: reading the archive: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Read the gzip stream to its end, which checks its checksum.
	n, err := io.Copy(io.Discard, io.LimitReader(zr, maxTrailing+1))
	if err != nil {
		return fmt.Errorf("bundle: reading the archive: %w", err)
	}
	if n > maxTrailing {
		return errors.New("bundle: data after the end of the archive")
	}
	return nil
}

// unpacker writes one archive's entries under root.
type unpacker struct {
	root    *os.Root
	lim     Limits
	seen    map[string]bool
	entries int
	bytes   int64
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	name, err := entryName(hdr)
	if err != nil {
		return err
	}
	if u.seen[name] {
		return fmt.Errorf("bundle: entry %q: given twice", hdr.Name)
	}
	u.seen[name] = true
	if u.entries++; u.entries > u.lim.MaxFiles {
		return fmt.Errorf("bundle: entry %q: more than the %d files and directories a bundle may hold", hdr.Name, u.lim.MaxFiles)
	}
	if hdr.Typeflag == tar.TypeDir {
		if err := u.root.MkdirAll(name, 0o755); err != nil {
			return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
		}
		return nil
	}
	if hdr.Size < 0 || hdr.Size > u.lim.MaxBytes-u.bytes {
		return fmt.Errorf("bundle: entry %q: the files expand past the %s a bundle may hold", hdr.Name, mib(u.lim.MaxBytes))
	}
	u.bytes += hdr.Size
	return u.file(name, hdr, r)
}

// file writes a regular file, never over one that exists.
func (u *unpacker) file(name string, hdr *tar.Header, r io.Reader) error {
	if d := path.Dir(name); d != "." {
		if err := u.root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
		}
	}
	mode := os.FileMode(0o644)
	if hdr.Mode&0o111 != 0 {
		mode = 0o755
	}
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	_, err = io.Copy(f, io.LimitReader(r, hdr.Size))
	if err == nil {
		err = f.Chmod(mode) // whatever the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	return nil
}

// entryName checks an entry's type and name and returns the name
// without a directory's trailing slash.
func entryName(hdr *tar.Header) (string, error) {
	name := hdr.Name
	switch hdr.Typeflag {
	case tar.TypeDir:
		name = strings.TrimSuffix(name, "/")
	case tar.TypeReg:
	case tar.TypeSymlink:
		return "", fmt.Errorf("bundle: entry %q: a symbolic link (to %q): a bundle holds only files and directories", hdr.Name, hdr.Linkname)
	case tar.TypeLink:
		return "", fmt.Errorf("bundle: entry %q: a hard link (to %q): a bundle holds only files and directories", hdr.Name, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return "", fmt.Errorf("bundle: entry %q: a device: a bundle holds only files and directories", hdr.Name)
	default:
		return "", fmt.Errorf("bundle: entry %q: of type %q: a bundle holds only files and directories", hdr.Name, hdr.Typeflag)
	}
	switch {
	case name == "" || name == ".":
		return "", fmt.Errorf("bundle: entry %q: no name", hdr.Name)
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("bundle: entry %q: a NUL in its name", hdr.Name)
	case path.IsAbs(name) || filepath.IsAbs(name):
		return "", fmt.Errorf("bundle: entry %q: an absolute path", hdr.Name)
	case name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../") || strings.HasSuffix(name, "/.."):
		return "", fmt.Errorf("bundle: entry %q: a path with \"..\"", hdr.Name)
	case path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)):
		return "", fmt.Errorf("bundle: entry %q: not a clean relative path", hdr.Name)
	}
	return name, nil
}
