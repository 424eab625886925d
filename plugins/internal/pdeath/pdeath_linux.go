package pdeath

import (
	"runtime"
	"syscall"
)

const needThread = true

// Set asks for sig to be sent to the process attr starts when its parent
// dies.
func Set(attr *syscall.SysProcAttr, sig syscall.Signal) {
	attr.Pdeathsig = sig
}

// forkThread runs the starts, locked to its thread for good: the goroutine
// never returns, so the thread never exits.
func forkThread(starts <-chan func()) {
	runtime.LockOSThread()
	for f := range starts {
		f()
	}
}
