package builtins

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// DebugEnv names the environment variable that, set to anything but "" or
// "0", makes an internal error carry the Go stack where it happened.
const DebugEnv = "WFSH_DEBUG"

// InternalError turns a recovered panic into an error of one line: a
// defect of wfsh, never of the flow, which the user is asked to report.
// With WFSH_DEBUG set, the Go stack of the panic follows on the next
// lines. Call it in the deferred function that recovered p.
func InternalError(p any) error {
	msg := strings.Join(strings.Fields(fmt.Sprint(p)), " ")
	const max = 300
	if len(msg) > max {
		msg = msg[:max] + "..."
	}
	err := fmt.Sprintf("internal error: %s; this is a bug in wfsh, not in the flow: please report it with the flow and command that caused it (%s=1 shows where it happened)", msg, DebugEnv)
	if debugOn() {
		err += "\n" + string(debug.Stack())
	}
	return &internalError{err}
}

type internalError struct{ msg string }

func (e *internalError) Error() string { return e.msg }

func debugOn() bool {
	v := os.Getenv(DebugEnv)
	return v != "" && v != "0"
}
