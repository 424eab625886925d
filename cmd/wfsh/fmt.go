//go:build !wfshlight

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/starfmt"
)

type fmtFlags struct {
	check bool
	diff  bool
}

func newFmtCmd() *cobra.Command {
	var f fmtFlags
	cmd := &cobra.Command{
		Use:   "fmt PATH...",
		Short: fullOnly["fmt"],
		Long: `Format flow files with buildifier's formatter (bazelbuild/buildtools):
each PATH is a .star file or a directory, searched for .star files (hidden
directories skipped). Files that change are rewritten in place and listed.
"wfsh fmt -" formats standard input to standard output (for editors).
Decorators, comments and blank lines between statements are kept; keyword
arguments are written name=value, as in Python. Formatting twice changes
nothing.

--check rewrites nothing: it lists the files that would change and exits 1
if there are any (for CI). --diff rewrites nothing and prints a unified diff.
Exit status: 0 done (or nothing to change), 1 --check found files to format,
2 bad input (a file that does not parse: its file:line:col; the other files
are still formatted).`,
		Example: `  wfsh fmt flows/
  wfsh fmt --check flows/ lib/common.star
  wfsh fmt --diff flows/etl.star
  wfsh fmt - < flows/etl.star`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "-" {
				return formatStdin(cmd.InOrStdin(), cmd.OutOrStdout(), f)
			}
			return formatFiles(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.check, "check", false, "rewrite nothing; list the files that need formatting and exit 1 if any do")
	fl.BoolVar(&f.diff, "diff", false, "rewrite nothing; print a unified diff of the changes")
	return cmd
}

func formatFiles(stdout, stderr io.Writer, paths []string, f fmtFlags) error {
	files, err := starFilesUnder(paths)
	if err != nil {
		return badInput(fmt.Errorf("wfsh fmt: %w", err))
	}
	var bad, changed int
	for r := range inOrder(files, format) {
		var pe *fs.PathError
		switch {
		case errors.As(r.err, &pe):
			return r.err
		case r.err != nil:
			fmt.Fprintln(stderr, printableError(r.err))
			bad++
			continue
		case bytes.Equal(r.src, r.out):
			continue
		}
		changed++
		if err := reportFormatted(stdout, r.name, r.src, r.out, f); err != nil {
			return err
		}
	}
	switch {
	case bad > 0:
		return &exitError{code: exitBadInput}
	case f.check && changed > 0:
		return &exitError{code: exitFailed}
	}
	return nil
}

// formatStdin formats standard input to standard output, for editors;
// with --check or --diff it prints what it would for a file named <stdin>.
func formatStdin(stdin io.Reader, stdout io.Writer, f fmtFlags) error {
	src, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	const name = "<stdin>"
	out, err := starfmt.Format(name, src)
	if err != nil {
		return badInput(err)
	}
	switch {
	case !f.check && !f.diff:
		_, err = stdout.Write(out)
		return err
	case bytes.Equal(src, out):
		return nil
	}
	if err := reportFormatted(stdout, name, src, out, f); err != nil {
		return err
	}
	if f.check {
		return &exitError{code: exitFailed}
	}
	return nil
}

// A formatted is one file read and formatted.
type formatted struct {
	name     string
	src, out []byte
	err      error
}

// format reads and formats one file.
func format(name string) formatted {
	r := formatted{name: name}
	if r.src, r.err = os.ReadFile(name); r.err == nil {
		r.out, r.err = starfmt.Format(name, r.src)
	}
	return r
}

// inOrder calls work for each file on every core and yields the results
// in the order of files.
func inOrder[T any](files []string, work func(name string) T) iter.Seq[T] {
	return func(yield func(T) bool) {
		results := make([]chan T, len(files))
		for i := range results {
			results[i] = make(chan T, 1)
		}
		next := make(chan int)
		for range min(runtime.GOMAXPROCS(0), len(files)) {
			go func() {
				for i := range next {
					results[i] <- work(files[i])
				}
			}()
		}
		go func() {
			defer close(next)
			for i := range files {
				next <- i
			}
		}()
		for _, c := range results {
			if !yield(<-c) {
				break
			}
		}
	}
}

// reportFormatted rewrites a changed file, or lists it (--check), or
// prints its diff (--diff).
func reportFormatted(stdout io.Writer, name string, src, out []byte, f fmtFlags) error {
	if f.diff {
		return writeDiff(stdout, name, src, out)
	}
	if !f.check {
		if err := writeFileKeepMode(name, out); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(stdout, name)
	return err
}

// writeDiff prints a unified diff of a file before and after.
func writeDiff(w io.Writer, name string, before, after []byte) error {
	return difflib.WriteUnifiedDiff(w, difflib.UnifiedDiff{
		A:        lines(before),
		B:        lines(after),
		FromFile: name,
		ToFile:   name + " (formatted)",
		Context:  3,
	})
}

// lines splits text after each newline, as difflib wants it.
func lines(text []byte) []string {
	l := strings.SplitAfter(string(text), "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// writeFileKeepMode replaces a file's contents through a temporary file
// beside it and a rename, so that an interrupted write leaves the old file
// whole; the file keeps its permissions, and a symbolic link stays one
// (the file it points to is rewritten).
func writeFileKeepMode(name string, data []byte) error {
	name, err := filepath.EvalSymlinks(name)
	if err != nil {
		return err
	}
	info, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// starFilesUnder expands PATH arguments: a file stands for itself, a
// directory for the .star files under it (hidden directories skipped), in
// lexical order.
func starFilesUnder(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && filepath.Ext(path) == ".star" {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no .star files in " + strings.Join(paths, " "))
	}
	return files, nil
}
