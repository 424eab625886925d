package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func supported() error { return nil }

// account is the user the server runs as: nil for the tests' own, or
// nobody when the tests run as root (initdb and postgres refuse root).
type account struct{ uid, gid uint32 }

func serverUser() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as another user: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &account{uid: uint32(uid), gid: uint32(gid)}, nil
}

func (a *account) set(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if a != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
	}
}

func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	return os.Lchown(path, int(a.uid), int(a.gid))
}

// server is the postmaster, a child of the test process.
type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // how it exited, once done
}

// startServer starts cmd as as, with a parent-death signal: SIGQUIT, an
// immediate shutdown, in which the postmaster stops its own children.
func startServer(cmd *exec.Cmd, as *account) (*server, error) {
	as.set(cmd)
	// Its own process group: a ^C to the tests reaches it only through
	// the tests' cleanup, not twice.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := forkOnLivingThread(cmd.Start); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server by its PID: SIGQUIT, then SIGKILL after grace.
func (s *server) stop(grace time.Duration) error { return s.stopWith(syscall.SIGQUIT, grace) }

// shutdown ends the server cleanly (SIGINT: PostgreSQL's fast shutdown,
// which disconnects its clients and writes what was committed), then
// SIGKILL after grace.
func (s *server) shutdown(grace time.Duration) error { return s.stopWith(syscall.SIGINT, grace) }

func (s *server) stopWith(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
		return nil
	case <-time.After(grace):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return fmt.Errorf("postgres (pid %d) ignored %v for %v: killed", s.pid(), sig, grace)
}

// The kernel sends the parent-death signal when the thread that forked
// the child exits, not the process; Go ends a thread when a goroutine
// locked to it returns, which any library may do. So every server is
// forked from one goroutine locked to its thread for good (as
// plugins/internal/pdeath does for plugins).
var (
	forkOnce sync.Once
	forks    chan func()
)

func forkOnLivingThread(start func() error) error {
	forkOnce.Do(func() {
		forks = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range forks {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	forks <- func() { errc <- start() }
	return <-errc
}

// writeOwner records, in dir/owner, the test process that made dir: its
// pid and start time, so that a reused pid is not taken for it.
func writeOwner(dir string) error {
	pid := os.Getpid()
	return os.WriteFile(filepath.Join(dir, "owner"), []byte(fmt.Sprintf("%d %s\n", pid, startTime(pid))), 0o644)
}

// startTime is the start time of process pid (field 22 of
// /proc/PID/stat, in clock ticks since boot), or "" if it is gone.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// ownerAlive reports whether the test process that made dir still runs.
func ownerAlive(dir string) (alive, known bool) {
	b, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		return false, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false, true
	}
	pid, _ := strconv.Atoi(f[0])
	return pid > 0 && startTime(pid) == f[1], true
}

// sweep removes the clusters whose test process died without stopping
// them (killed: the kernel sent their server SIGQUIT, but nobody removed
// the directory), stopping the server first if it still runs. Clusters
// of live test processes, other users' included, are left alone.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		alive, known := ownerAlive(dir)
		if alive {
			continue
		}
		if !known {
			// Just made, its owner file not yet written; or not ours.
			if st, err := os.Stat(dir); err != nil || time.Since(st.ModTime()) < time.Minute {
				continue
			}
		}
		stopLeftover(filepath.Join(dir, "data"))
		_ = os.RemoveAll(dir)
	}
}

// stopLeftover stops the postmaster of data, if it still runs: the pid
// in its postmaster.pid, if that process is a postgres whose data
// directory is data.
func stopLeftover(data string) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	if pid <= 0 || len(lines) < 2 || strings.TrimSpace(lines[1]) != data {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), data) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
