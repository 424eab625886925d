package kubernetes

import (
	"time"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// drainTimeout bounds how long the process waits, once wfsh has stopped
// it, for cancelled calls to delete their Jobs. wfsh kills a plugin that
// has not exited 2 s after it asked it to stop.
const drainTimeout = 1500 * time.Millisecond

// Main is the whole main of wfsh-plugin-kubernetes: it serves the plugin,
// then, when wfsh stops it (the end of the run, or an interrupt that has
// cancelled the calls), gives the calls still deleting their Jobs a moment
// to finish.
func Main() {
	sdk.Serve(Plugin())
	done := make(chan struct{})
	go func() {
		pending.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainTimeout):
	}
}
