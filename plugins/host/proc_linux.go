package host

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the plugin when wfsh dies, even by
// SIGKILL, so that no plugin outlives the run that started it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
