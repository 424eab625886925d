package main

import (
	"os"
	"path/filepath"
)

// Keep the tests' runs out of the real ~/.wfsh. Scripts run wfsh with
// HOME=/no-home (testscript's choice): their runs go to $WORK/.wfsh. The
// tests that build and start the binary (signal_test.go) pass it this
// process's environment: their runs go to a directory of the temporary
// directory, shared by every run of these tests. This runs both in the
// test process and in the wfsh subprocesses that testscript starts from
// it, before Main.
func init() {
	if os.Getenv("WFSH_HOME") != "" {
		return
	}
	if work := os.Getenv("WORK"); work != "" && os.Getenv("HOME") == "/no-home" {
		os.Setenv("WFSH_HOME", filepath.Join(work, ".wfsh"))
		return
	}
	os.Setenv("WFSH_HOME", filepath.Join(os.TempDir(), "wfsh-cmd-test-home"))
}
