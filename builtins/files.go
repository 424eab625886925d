package builtins

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// within reports whether abs, an absolute path, is in the flow's directory
// tree both as written and once every symlink on it is followed: a link
// under the flow's directory to a file or directory elsewhere is outside.
// A path that does not exist is judged by its longest existing parent,
// a dangling link by where it points.
func (e *env) within(abs string) (bool, error) {
	if !under(e.root, abs) {
		return false, nil
	}
	root, err := filepath.EvalSymlinks(e.root)
	if err != nil {
		return false, err
	}
	real, err := realPath(abs, 0)
	if err != nil {
		return false, err
	}
	return under(root, real), nil
}

// under reports whether path is dir or lies below it, lexically.
func under(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// maxLinks bounds the dangling links realPath follows one after another.
const maxLinks = 40

// realPath is filepath.EvalSymlinks for a path that may not exist: the
// real path of its longest existing parent joined with the rest, where a
// dangling link is replaced by its target.
func realPath(path string, links int) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return real, err
	}
	parent := filepath.Dir(path)
	if parent == path {
		return path, nil
	}
	realParent, err := realPath(parent, links)
	if err != nil {
		return "", err
	}
	target, err := os.Readlink(path)
	if err != nil { // not a link: it does not exist
		return filepath.Join(realParent, filepath.Base(path)), nil
	}
	if links++; links > maxLinks {
		return "", errors.New("too many links")
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(realParent, target)
	}
	return realPath(target, links)
}

// noteRead records a file that flow code read at definition time.
func (e *env) noteRead(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		e.read[abs] = true
	}
}

// Files returns every file the module's load read: the flow file, the
// .star files it loads and the files read by read_file, load_yaml and
// load_json, each once, as slash-separated paths relative to the flow
// file's directory, sorted. Together they are what the flow needs to be
// loaded elsewhere (wfsh run --on kubernetes ships them).
func (m *Module) Files() []string {
	seen := map[string]bool{}
	var out []string
	add := func(abs string) {
		rel, err := filepath.Rel(m.env.root, abs)
		if err != nil || seen[rel] {
			return
		}
		seen[rel] = true
		out = append(out, filepath.ToSlash(rel))
	}
	for abs := range m.env.files {
		add(abs)
	}
	for abs := range m.env.read {
		add(abs)
	}
	sort.Strings(out)
	return out
}

// Root is the flow file's directory: what a flow may read is under it.
func (m *Module) Root() string { return m.env.root }
