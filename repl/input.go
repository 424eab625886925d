package repl

import (
	"bufio"
	"errors"
	"io"
	"strings"

	"go.starlark.net/syntax"

	"github.com/wfsh/wfsh/builtins"
)

// Complete reports whether src is a whole entry, ready to run: what the
// prompt decides when Enter is pressed. As in Python's interactive mode,
// an entry is incomplete while a bracket or a triple-quoted string is
// open, while it ends with a line that opens a block or a decorator, and,
// for a compound statement (def, if, for, while, decorated def), until a
// blank line ends it. An entry with any other syntax error is complete:
// running it reports the error.
func Complete(src string) bool {
	if strings.TrimSpace(src) == "" {
		return true
	}
	blankEnd := endsBlank(src)
	f, err := builtins.ParseFile(DefaultFilename, []byte(withNewline(src)))
	var serr syntax.Error
	switch {
	case err == nil:
		return blankEnd || !compound(f)
	case !errors.As(err, &serr):
		return true
	case atEOF(serr, src):
		// An empty block after a blank line cannot go on: report it.
		return blankEnd && strings.HasSuffix(serr.Msg, "want indent")
	case strings.Contains(serr.Msg, "decorator must be followed"):
		return blankEnd || !awaitsDef(src, serr.Pos)
	}
	return true
}

// awaitsDef reports whether the decorator at pos in src is still waiting
// for its def: whether src parses once a def follows it, at the
// decorator's indentation.
func awaitsDef(src string, pos syntax.Position) bool {
	lines := strings.Split(src, "\n")
	if int(pos.Line) > len(lines) {
		return false
	}
	at := lines[pos.Line-1]
	ind := at[:len(at)-len(strings.TrimLeft(at, " \t"))]
	probe := withNewline(src) + ind + "def _():\n" + ind + "    pass\n"
	_, err := builtins.ParseFile(DefaultFilename, []byte(probe))
	return err == nil
}

func withNewline(src string) string {
	if strings.HasSuffix(src, "\n") {
		return src
	}
	return src + "\n"
}

// endsBlank reports whether the last line of src is blank. A newline at
// the end of src ends its last line; it does not start a new one.
func endsBlank(src string) bool {
	body := strings.TrimSuffix(src, "\n")
	return strings.TrimSpace(body[strings.LastIndexByte(body, '\n')+1:]) == ""
}

// atEOF reports whether a syntax error is at the end of src: more input
// may mend it.
func atEOF(serr syntax.Error, src string) bool {
	return strings.Contains(serr.Msg, "got end of file") || strings.Contains(serr.Msg, "unexpected EOF") ||
		strings.HasPrefix(serr.Msg, "got outdent") && int(serr.Pos.Line) > lineCount(withNewline(src))
}

// compound reports whether f's statements include a block statement.
func compound(f *syntax.File) bool {
	for _, s := range f.Stmts {
		switch s.(type) {
		case *syntax.DefStmt, *syntax.IfStmt, *syntax.ForStmt, *syntax.WhileStmt:
			return true
		}
	}
	return false
}

// Split reads r line by line and calls yield with each entry, as a prompt
// would have run them: an entry ends when it is [Complete], and also, for
// a compound statement, at the next line that starts a new statement at
// the left margin (so scripts need no blank line after a def). Every line
// of r belongs to exactly one entry (blank lines and comments to the
// entry they precede or end), so that lines count as in r. An incomplete
// entry at the end of r is yielded as it is.
func Split(r io.Reader, yield func(src string) bool) error {
	br := bufio.NewReader(r)
	var buf strings.Builder
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if buf.Len() > 0 && startsStatement(line) && parses(buf.String()) {
				if !yield(buf.String()) {
					return nil
				}
				buf.Reset()
			}
			buf.WriteString(line)
			if Complete(buf.String()) {
				if !yield(buf.String()) {
					return nil
				}
				buf.Reset()
			}
		}
		if err == io.EOF {
			if buf.Len() > 0 {
				yield(buf.String())
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// parses reports whether src is statements without error.
func parses(src string) bool {
	_, err := builtins.ParseFile(DefaultFilename, []byte(src))
	return err == nil
}

// startsStatement reports whether line, unindented, starts a statement of
// its own rather than continuing the one before (else, elif, a comment).
func startsStatement(line string) bool {
	if line == "" || strings.ContainsRune(" \t\r\n#", rune(line[0])) {
		return false
	}
	for _, kw := range []string{"else", "elif"} {
		if rest, ok := strings.CutPrefix(line, kw); ok && (rest == "" || !isIdentByte(rest[0])) {
			return false
		}
	}
	return true
}

func isIdentByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
