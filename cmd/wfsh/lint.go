//go:build !wfshlight

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/starlint"
)

type lintFlags struct {
	fix  bool
	json bool
}

func newLintCmd() *cobra.Command {
	var f lintFlags
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: fullOnly["lint"],
		Long: `Lint flow files: each PATH is a .star file or a directory, searched for
.star files (hidden directories skipped). Each finding is printed as
file:line:col: message (category), followed by "fix: ..." when --fix can
fix it; a summary goes to stderr.

wfsh's own checks: ` + strings.Join(starlint.Own, ", ") + `.
buildifier's: ` + strings.Join(starlint.Buildifier, ", ") + `.
A comment "# wfsh: disable=CATEGORY" on a finding's statement (or the line
above it) silences it ("# buildifier: disable=CATEGORY" works for
buildifier's).

--fix applies every fix, writes the files formatted as wfsh fmt does, and
prints what is left. --json prints one JSON object per finding and line.
Exit status: 0 no findings, 1 findings, 2 bad input (a file that does not
parse: its file:line:col).`,
		Example: `  wfsh lint flows/
  wfsh lint --fix flows/etl.star
  wfsh lint --json flows/ | jq -r .category`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lintFiles(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.fix, "fix", false, "apply the fixes there are and rewrite the files (formatted)")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per finding and line")
	return cmd
}

// lintTally counts what wfsh lint found, for its summary and exit status.
type lintTally struct {
	findings, fixable, files, fixed, bad int
}

func lintFiles(stdout, stderr io.Writer, paths []string, f lintFlags) error {
	files, err := starFilesUnder(paths)
	if err != nil {
		return badInput(fmt.Errorf("wfsh lint: %w", err))
	}
	var n lintTally
	for r := range inOrder(files, func(name string) linted { return lintFile(name, f) }) {
		var pe *fs.PathError
		switch {
		case errors.As(r.err, &pe):
			return r.err // a file that cannot be read or written stops the command
		case r.err != nil:
			fmt.Fprintln(stderr, printableError(r.err))
			n.bad++
			continue
		}
		n.add(r)
		if err := printFindings(stdout, r.findings, f.json); err != nil {
			return err
		}
	}
	if !f.json {
		summarize(stderr, n, f.fix)
	}
	switch {
	case n.bad > 0:
		return &exitError{code: exitBadInput}
	case n.findings > 0:
		return &exitError{code: exitFailed}
	}
	return nil
}

// linted is one file linted (and fixed, with --fix).
type linted struct {
	findings []starlint.Finding
	fixed    bool
	err      error
}

func (n *lintTally) add(r linted) {
	n.findings += len(r.findings)
	for _, fd := range r.findings {
		if fd.Fix != "" {
			n.fixable++
		}
	}
	if len(r.findings) > 0 {
		n.files++
	}
	if r.fixed {
		n.fixed++
	}
}

// lintFile lints one file, fixing it with --fix.
func lintFile(name string, f lintFlags) linted {
	src, err := os.ReadFile(name)
	if err != nil {
		return linted{err: err}
	}
	if !f.fix {
		findings, err := starlint.Lint(name, src)
		return linted{findings: findings, err: err}
	}
	out, left, err := starlint.Fix(name, src)
	if err != nil || bytes.Equal(out, src) {
		return linted{findings: left, err: err}
	}
	return linted{findings: left, fixed: true, err: writeFileKeepMode(name, out)}
}

func printFindings(w io.Writer, findings []starlint.Finding, asJSON bool) error {
	for _, fd := range findings {
		var err error
		if asJSON {
			var line []byte
			line, err = json.Marshal(fd)
			if err == nil {
				_, err = fmt.Fprintf(w, "%s\n", line)
			}
		} else {
			_, err = fmt.Fprintln(w, printableError(fmt.Errorf("%s", fd)))
			if err == nil && fd.Fix != "" {
				_, err = fmt.Fprintf(w, "    fix: %s\n", fd.Fix)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// summarize says how many findings there are, and what --fix would do or did.
func summarize(w io.Writer, n lintTally, fixing bool) {
	switch {
	case fixing && n.fixed > 0:
		fmt.Fprintf(w, "wfsh lint: fixed %s; %s left\n", plural(n.fixed, "file"), plural(n.findings, "finding"))
	case n.findings > 0 && n.fixable > 0:
		fmt.Fprintf(w, "wfsh lint: %s in %s (%d can be fixed: wfsh lint --fix)\n", plural(n.findings, "finding"), plural(n.files, "file"), n.fixable)
	case n.findings > 0:
		fmt.Fprintf(w, "wfsh lint: %s in %s\n", plural(n.findings, "finding"), plural(n.files, "file"))
	}
}
