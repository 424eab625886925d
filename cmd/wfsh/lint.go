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
		Short: "Report likely mistakes in .star files (buildifier's warnings and wfsh's own)",
		Long: `Lint flow files: each PATH is a .star file or a directory, searched for
.star files (hidden directories skipped). Each finding is printed as
file:line:col: message (category), followed by "fix: ..." when --fix can
fix it; a summary goes to stderr.

wfsh's own checks: ` + strings.Join(starlint.Own, ", ") + `.
buildifier's: ` + strings.Join(starlint.Buildifier, ", ") + `.
A comment "# wfsh: disable=CATEGORY" on a finding's statement (or the line
above it) silences one of wfsh's; "# buildifier: disable=CATEGORY" one of
buildifier's.

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
	for _, name := range files {
		findings, err := lintFile(name, f, &n)
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return err // a file that cannot be read or written stops the command
		}
		if err != nil {
			fmt.Fprintln(stderr, printableError(err))
			n.bad++
			continue
		}
		if len(findings) > 0 {
			n.files++
		}
		if err := printFindings(stdout, findings, f.json); err != nil {
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

// lintFile lints one file, fixing it with --fix, and counts its findings.
func lintFile(name string, f lintFlags, n *lintTally) ([]starlint.Finding, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if !f.fix {
		findings, err := starlint.Lint(name, src)
		n.findings += len(findings)
		for _, fd := range findings {
			if fd.Fix != "" {
				n.fixable++
			}
		}
		return findings, err
	}
	out, left, err := starlint.Fix(name, src)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(out, src) {
		if err := writeFileKeepMode(name, out); err != nil {
			return nil, err
		}
		n.fixed++
	}
	n.findings += len(left)
	return left, nil
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
