//go:build unix

package host

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// addLane gives the plugin one end of a socketpair, as its calls lane (see
// sdk.CallsFDEnv), and returns the other end, or nil when none could be
// made; the calls then go over gRPC. Call closeChildEnd once the process
// has started.
func addLane(cmd *exec.Cmd) (conn net.Conn, closeChildEnd func()) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, func() {}
	}
	ours := os.NewFile(uintptr(fds[0]), "wfsh-calls")
	theirs := os.NewFile(uintptr(fds[1]), "wfsh-calls-plugin")
	conn, err = net.FileConn(ours)
	_ = ours.Close()
	if err != nil {
		_ = theirs.Close()
		return nil, func() {}
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, theirs)
	fd := 3 + len(cmd.ExtraFiles) - 1
	cmd.Env = append(cmd.Env, sdk.CallsFDEnv+"="+strconv.Itoa(fd))
	return conn, func() { _ = theirs.Close() }
}
