// Huge pages for the heap of a large run.
//
// On a machine whose kernel gives huge pages only where asked
// (/sys/kernel/mm/transparent_hugepage/enabled is "madvise", the default of
// many distributions), the Go runtime asks for none for its heap, so every
// 4 KiB page a run touches costs a page fault: W3 (10,000 tasks) makes
// about 4,700 of them, and on a virtual machine that is half its CPU
// (docs/performance.md). Once a process is known to run a large flow,
// ExpectTasks makes the Go runtime map one large block of heap, marks it
// MADV_HUGEPAGE and collects it, so the run's next allocations reuse it in
// 2 MiB pages. Small runs never pay for it: hello_world allocates too
// little to gain, and the collection and the zeroing of a huge page would
// cost it.

package runtime

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
)

// LargeRun is the number of tasks from which a run counts as large: W1's
// 1,000-task chain gains nothing (its heap is a few MiB); W3's 10,000 and
// W2's 100,000 spend a third to a half of their time in page faults.
const LargeRun = 2000

// reserveSize is the block reserved. W3 peaks at about 26 MiB resident and
// W2 at about 80 MiB; the block stays under the 64 MiB a run may hold
// before its first collection (cmd/wfsh/gc.go), so it does not bring that
// collection forward. What of it a run does not touch costs no memory:
// the kernel gives a huge page at its first touch.
const reserveSize = 48 << 20

var hugeHeap struct {
	collect atomic.Pointer[func(gc func())] // nil until EnableHugeHeap
	once    sync.Once
}

// EnableHugeHeap lets ExpectTasks act in this process. ExpectTasks' one
// collection is run through wrap (nil: as it is), which may keep garbage
// collector settings that a first collection would change. wfsh run calls
// it; long-lived processes (a server, wfsh serve, the REPL) do not, since
// a huge page is worth its cost to a heap that grows fast and ends soon.
func EnableHugeHeap(wrap func(gc func())) {
	if wrap == nil {
		wrap = func(gc func()) { gc() }
	}
	hugeHeap.collect.Store(&wrap)
}

// ExpectTasks says that about n tasks are about to be built or run. The
// first time n reaches LargeRun in a process that called EnableHugeHeap,
// it reserves huge-page heap for them; otherwise it does nothing (one
// atomic load).
func ExpectTasks(n int) {
	if n < LargeRun {
		return
	}
	wrap := hugeHeap.collect.Load()
	if wrap == nil {
		return
	}
	hugeHeap.once.Do(func() {
		reserveHuge(reserveSize, func() { (*wrap)(goruntime.GC) })
	})
}
