// Package bundle packs a flow's directory tree into a deterministic,
// content-addressed archive (what `wfsh deploy` uploads) and unpacks it
// on a worker, refusing anything that could land outside the target
// directory.
//
// A bundle is the flow file's directory and everything below it: the
// tree builtins lets a flow reach, since load() and read_file resolve
// paths relative to the calling file and refuse any that leave the flow
// file's directory, symbolic links followed. Hidden directories (.git,
// .venv) are left out; hidden files are kept, since a flow may read
// them. A symbolic link is followed when it stays inside the tree, as
// builtins follows it, and stored as what it leads to; a link that leads
// outside, nowhere, or back to a directory it is in is refused, naming
// the link.
//
// The archive is a tar stream in gzip. Entries come in walk order
// (directories in name order), with fixed times, no owners, and modes
// normalised to 0644 (0755 for directories and executables), so that the
// same tree gives the same bytes and so the same Info.Hash, the SHA-256
// of the archive. The bytes are those of this build's compress/flate: a
// wfsh built with another Go may give another hash for the same tree
// (a second copy in the store, never a wrong one).
package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// The default limits: a bundle holds at most MaxBytes of file contents in
// at most MaxFiles files and directories.
const (
	MaxBytes = 64 << 20
	MaxFiles = 10_000
)

// Limits bound a bundle, packed or unpacked; a zero field takes its
// default.
type Limits struct {
	MaxBytes int64 // the files' contents, in total
	MaxFiles int   // files and directories
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = MaxFiles
	}
	return l
}

// Info describes a packed bundle.
type Info struct {
	Hash  string // SHA-256 of the archive, lowercase hex: the bundle's name
	Size  int64  // bytes of the archive
	Files int    // regular files
	Bytes int64  // bytes of the files' contents
}

// epoch is every entry's modification time.
var epoch = time.Unix(0, 0)

// Pack writes the tree under dir to w as a bundle. The tree is read
// whole before anything is written, so that a refused tree writes
// nothing; an error while writing leaves w with part of an archive.
func Pack(dir string, w io.Writer, lim Limits) (Info, error) {
	lim = lim.withDefaults()
	entries, err := scan(dir, lim)
	if err != nil {
		return Info{}, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	zw := gzip.NewWriter(cw) // no name, no time: a fixed header
	tw := tar.NewWriter(zw)
	var info Info
	for _, e := range entries {
		if err := writeEntry(tw, e); err != nil {
			return Info{}, err
		}
		if !e.dir {
			info.Files++
			info.Bytes += e.size
		}
	}
	if err := tw.Close(); err != nil {
		return Info{}, err
	}
	if err := zw.Close(); err != nil {
		return Info{}, err
	}
	info.Hash = hex.EncodeToString(h.Sum(nil))
	info.Size = cw.n
	return info, nil
}

func writeEntry(tw *tar.Writer, e entry) error {
	hdr := &tar.Header{Name: e.name, ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg, Size: e.size}
	if e.dir {
		hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Size = e.name+"/", 0o755, tar.TypeDir, 0
		return tw.WriteHeader(hdr)
	}
	if e.exec {
		hdr.Mode = 0o755
	}
	// Opened without waiting: should the file have become a FIFO since
	// the walk, the check below refuses it rather than wait for a writer.
	f, err := os.OpenFile(e.src, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("bundle: %s: %w", e.name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() != e.size {
		return fmt.Errorf("bundle: %s changed while it was packed; try again", e.name)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, e.size); err != nil {
		return fmt.Errorf("bundle: %s: %w (did it change while it was packed?)", e.name, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
