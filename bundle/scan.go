package bundle

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// An entry is one file or directory of the tree, in the order packed.
type entry struct {
	name string // slash-separated, relative to the tree's root
	src  string // where to read it: links followed
	dir  bool
	exec bool
	size int64
}

// walker collects a tree's entries.
type walker struct {
	root    string // the real path of the tree's root
	lim     Limits
	entries []entry
	files   int
	bytes   int64
	walking []string // real paths of the directories being walked, root first
}

// scan lists the tree under dir, refusing what a bundle cannot hold.
func scan(dir string, lim Limits) ([]entry, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("bundle: %s is not a directory", dir)
	}
	w := &walker{root: root, lim: lim, walking: []string{root}}
	if err := w.walk(root, ""); err != nil {
		return nil, err
	}
	if w.bytes > lim.MaxBytes {
		return nil, w.tooBig(dir)
	}
	return w.entries, nil
}

// walk adds the entries of the directory real, named name in the tree.
func (w *walker) walk(real, name string) error {
	des, err := os.ReadDir(real)
	if err != nil {
		return fmt.Errorf("bundle: %s: %w", displayName(name), err)
	}
	for _, de := range des {
		if err := w.add(filepath.Join(real, de.Name()), path.Join(name, de.Name())); err != nil {
			return err
		}
	}
	return nil
}

// add adds the entry at src, named name, and walks it if it is a
// directory.
func (w *walker) add(src, name string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	if hidden(name) && isDir(src, fi) {
		return nil
	}
	link := src
	if fi.Mode()&fs.ModeSymlink != 0 {
		if src, fi, err = w.follow(src, name); err != nil {
			return err
		}
	}
	if len(w.entries) >= w.lim.MaxFiles {
		return fmt.Errorf("bundle: the tree holds more than the %d files and directories a bundle may hold", w.lim.MaxFiles)
	}
	switch {
	case fi.IsDir():
		if slices.Contains(w.walking, src) {
			target, _ := os.Readlink(link)
			return fmt.Errorf("bundle: %s: a symbolic link to %s, a directory it is in: the tree would never end", name, target)
		}
		w.entries = append(w.entries, entry{name: name, src: src, dir: true})
		w.walking = append(w.walking, src)
		defer func() { w.walking = w.walking[:len(w.walking)-1] }()
		return w.walk(src, name)
	case fi.Mode().IsRegular():
		w.entries = append(w.entries, entry{name: name, src: src, exec: fi.Mode()&0o111 != 0, size: fi.Size()})
		w.bytes += fi.Size()
		return nil
	}
	return fmt.Errorf("bundle: %s is %s: a bundle holds only regular files and directories", name, kind(fi.Mode()))
}

// follow resolves the symbolic link at src: it must lead to an existing
// file or directory inside the tree.
func (w *walker) follow(src, name string) (string, fs.FileInfo, error) {
	target, _ := os.Readlink(src)
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", nil, fmt.Errorf("bundle: %s: a symbolic link to %s, which does not resolve: %w", name, target, err)
	}
	if !under(w.root, real) {
		return "", nil, fmt.Errorf("bundle: %s: a symbolic link to %s, outside the flow's directory %s: a bundle holds only the flow's directory tree (copy the file in, or move the link out)", name, target, w.root)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", nil, fmt.Errorf("bundle: %s: %w", name, err)
	}
	return real, fi, nil
}

// tooBig names the biggest files of a tree over the limit.
func (w *walker) tooBig(dir string) error {
	files := slices.DeleteFunc(slices.Clone(w.entries), func(e entry) bool { return e.dir })
	slices.SortStableFunc(files, func(a, b entry) int { return cmp.Compare(b.size, a.size) })
	var big []string
	for _, e := range files[:min(5, len(files))] {
		big = append(big, fmt.Sprintf("%s (%s)", e.name, mib(e.size)))
	}
	return fmt.Errorf("bundle: %s holds %s, more than the %s a bundle may hold; the biggest files: %s",
		dir, mib(w.bytes), mib(w.lim.MaxBytes), strings.Join(big, ", "))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// hidden reports whether the entry's own name starts with a dot.
func hidden(name string) bool { return strings.HasPrefix(path.Base(name), ".") }

// isDir reports whether src is a directory or a link to one.
func isDir(src string, fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeSymlink == 0 {
		return fi.IsDir()
	}
	t, err := os.Stat(src)
	return err == nil && t.IsDir()
}

// under reports whether p is dir or lies below it, lexically.
func under(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

func displayName(name string) string {
	if name == "" {
		return "."
	}
	return name
}
