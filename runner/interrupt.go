package runner

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// WithInterrupts cancels the returned context at the first SIGINT or
// SIGTERM, and calls second at the next one (a user who does not want to
// wait for the run to stop). The returned func stops listening.
func WithInterrupts(parent context.Context, second func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			second()
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
