//go:build !linux

package host

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// there a plugin outlives a wfsh killed by SIGKILL.
func dieWithParent(*exec.Cmd) {}

// becomeSubreaper is a no-op where the kernel has no child subreapers.
func becomeSubreaper() {}

// sweep has nothing to sweep without a subreaper.
func sweep(map[int]bool) {}
