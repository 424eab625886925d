package pdeath

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/proctest"
)

// A child started with a parent-death signal from a goroutine locked to
// its thread, which then returns still locked (Go ends the thread): the
// kernel kills the child at once, though its parent lives on, unless the
// child was forked through Do.
func TestThreadExit(t *testing.T) {
	for _, through := range []bool{true, false} {
		name := map[bool]string{true: "Do", false: "plain"}[through]
		t.Run(name, func(t *testing.T) {
			started := make(chan *exec.Cmd)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				cmd := exec.Command("sleep", "60")
				cmd.SysProcAttr = &syscall.SysProcAttr{}
				Set(cmd.SysProcAttr, syscall.SIGKILL)
				var err error
				if through {
					err = Do(cmd.Start)
				} else {
					err = cmd.Start()
				}
				if err != nil {
					t.Error(err)
					cmd = nil
				}
				started <- cmd
			}()
			cmd := <-started
			if cmd == nil {
				return
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			pid := cmd.Process.Pid
			// Through Do the child must still run after a second; plain,
			// it must be gone, which a loaded machine may take longer to
			// show (the thread's exit is scheduled like any other work).
			wait := time.Second
			if !through {
				wait = 10 * time.Second
			}
			deadline := time.Now().Add(wait)
			for proctest.Running(pid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := proctest.Running(pid); got != through {
				t.Errorf("running %v after its forking thread ended: %v, want %v", wait, got, through)
			}
		})
	}
}
