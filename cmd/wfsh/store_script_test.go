package main

import (
	"os"
	"path/filepath"
)

// Keep the tests' runs out of the real ~/.wfsh. Scripts run wfsh with
// HOME=/no-home (testscript's choice): their runs go to $WORK/.wfsh. The
// tests that build and start the binary (signal_test.go) pass it this
// process's environment: their runs go to a directory of this test
// process's own (testHome), removed after the tests: a directory shared by
// every run of these tests was shared with other checkouts too, whose
// store may be of a newer schema. This runs both in the test process and
// in the wfsh subprocesses that testscript starts from it, before Main.
func init() {
	if os.Getenv("WFSH_HOME") != "" {
		return
	}
	if work := os.Getenv("WORK"); work != "" && os.Getenv("HOME") == "/no-home" {
		os.Setenv("WFSH_HOME", filepath.Join(work, ".wfsh"))
		return
	}
	dir, err := os.MkdirTemp("", "wfsh-cmd-test-home-")
	if err != nil {
		panic(err)
	}
	testHome = dir
	os.Setenv("WFSH_HOME", dir)
}

// testHome is the WFSH_HOME this test process made ("" if it was given
// one); TestMain removes it.
var testHome string
