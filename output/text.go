package output

import (
	"strings"

	"github.com/wfsh/wfsh/runtime"
)

// Printable is s with its control characters escaped (runtime.Printable):
// for names and messages from a flow printed on a line of their own.
func Printable(s string) string { return runtime.Printable(s) }

// Cell is Printable(s) with tabs escaped too, for a cell of a table laid
// out by a tabwriter, where a tab would start another column.
func Cell(s string) string {
	s = runtime.Printable(s)
	if strings.IndexByte(s, '\t') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\t", `\t`)
}

// PrintableLines is Printable applied to each line of s: for a message of
// several lines (an error list, a backtrace) printed as they are.
func PrintableLines(s string) string {
	if !strings.Contains(s, "\n") {
		return runtime.Printable(s)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = runtime.Printable(l)
	}
	return strings.Join(lines, "\n")
}
