// Package pdeath starts processes that the kernel ends when their parent
// dies, even by SIGKILL: Linux's parent-death signal (PR_SET_PDEATHSIG).
// Elsewhere it starts them plainly.
//
// The kernel sends that signal when the thread that forked the child
// exits, not the process. Go ends an OS thread when a goroutine locked to
// it returns without unlocking, which a library may do at any time; a
// child forked from such a thread would then be signalled while its
// parent is alive. So every start goes through one goroutine locked to its
// thread for the life of the process: that thread exits only with it.
package pdeath

import "sync"

var (
	once   sync.Once
	starts chan func()
)

// Do runs start on the one thread that lives as long as the process, and
// returns its error. start should do little besides forking: the starts
// of a process wait for each other.
func Do(start func() error) error {
	if !needThread {
		return start()
	}
	once.Do(func() {
		starts = make(chan func())
		go forkThread(starts)
	})
	errc := make(chan error, 1)
	starts <- func() { errc <- start() }
	return <-errc
}
