package pdeath

import (
	"os/exec"
	"syscall"
	"testing"
)

// BenchmarkStart: one op starts `true` and waits for it, forked through
// Do (with a parent-death signal) or plainly.
func BenchmarkStart(b *testing.B) {
	for _, through := range []bool{true, false} {
		b.Run(map[bool]string{true: "Do", false: "plain"}[through], func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command("true")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				start := cmd.Start
				if through {
					Set(cmd.SysProcAttr, syscall.SIGKILL)
					start = func() error { return Do(cmd.Start) }
				}
				if err := start(); err != nil {
					b.Fatal(err)
				}
				_ = cmd.Wait()
			}
		})
	}
}
