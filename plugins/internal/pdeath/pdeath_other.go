//go:build !linux

package pdeath

import "syscall"

const needThread = false

// Set does nothing where the kernel offers no parent-death signal: there a
// child outlives a parent killed by SIGKILL.
func Set(*syscall.SysProcAttr, syscall.Signal) {}

func forkThread(<-chan func()) {}
