//go:build unix

package sdk

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// termGrace is how long a plugin whose wfsh is alive waits, after SIGTERM
// or SIGHUP, for wfsh to stop it: sent to the whole process group (as
// `timeout` and a closing terminal do), the signal reached wfsh too, which
// cancels its calls and then stops its plugins, each call reported
// cancelled.
const termGrace = 2 * time.Second

// endOnTerm makes SIGTERM and SIGHUP end the plugin the way wfsh stopping
// it does, its calls cancelled first (a shell command's process group is
// killed by its call's cancellation), rather than at once, which would
// leave the processes its calls started running. When wfsh has died (the
// plugin's parent-death signal is SIGTERM) that happens at once; while it
// lives, after termGrace unless wfsh stops the plugin meanwhile. served is
// closed when wfsh has stopped the plugin.
func (s *server) endOnTerm(served <-chan struct{}) {
	parent := os.Getppid()
	sigs := make(chan os.Signal, 1)
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		// One ignored (wfsh started by nohup) stays ignored, as for wfsh.
		if !signal.Ignored(sig) {
			signal.Notify(sigs, sig)
		}
	}
	go func() {
		sig := <-sigs
		if os.Getppid() == parent {
			select {
			case <-served:
				return // Serve cancels the calls and returns
			case <-time.After(termGrace):
			case <-sigs: // another, such as the parent-death signal
			}
		}
		s.shutdown(shutdownWait)
		// End by the signal, as the default action would have.
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		time.Sleep(time.Second)
		os.Exit(1)
	}()
}
