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
	"sync"
	"sync/atomic"
)

// LargeRun is the number of tasks from which a run counts as large: W1's
// 1,000-task chain gains nothing (its heap is a few MiB); W3's 10,000 and
// W2's 100,000 spend a third to a half of their time in page faults.
const LargeRun = 2000

// The block reserved is perTask bytes for each task expected, at least
// minReserve and at most maxReserve. W3 peaks at about 26 MiB resident and
// reserves at its 2,000th call, W2 (100,000 mapped tasks) at about 100 MiB
// with the store. What of the block a run does not touch costs no memory:
// the kernel gives a huge page at its first touch.
const (
	perTask    = 1 << 10
	minReserve = 48 << 20
	maxReserve = 128 << 20
)

// reserveFor is the block reserved for n tasks.
func reserveFor(n int) int {
	return min(max(n*perTask, minReserve), maxReserve)
}

var hugeHeap struct {
	around atomic.Pointer[func(size int, reserve func())] // nil until EnableHugeHeap
	once   sync.Once
}

// EnableHugeHeap lets ExpectTasks act in this process. ExpectTasks
// reserves by calling around(size, reserve); reserve allocates size bytes
// of heap and collects them. around may adjust the garbage collector's
// settings around that, or not call reserve at all (nil: reserve as it
// is); wfsh's keeps its quiet heap, raised by size, and reserves only
// while that heap is on. wfsh run calls it; long-lived processes (a
// server, wfsh serve, the REPL) do not, since a huge page is worth its
// cost to a heap that grows fast and ends soon.
func EnableHugeHeap(around func(size int, reserve func())) {
	if around == nil {
		around = func(_ int, reserve func()) { reserve() }
	}
	hugeHeap.around.Store(&around)
}

// ExpectTasks says that about n tasks are about to be built or run. The
// first time n reaches LargeRun in a process that called EnableHugeHeap,
// on a kernel that gives huge pages where asked, it reserves huge-page
// heap for them; otherwise it does nothing (one atomic load).
func ExpectTasks(n int) {
	if n < LargeRun {
		return
	}
	around := hugeHeap.around.Load()
	if around == nil {
		return
	}
	hugeHeap.once.Do(func() {
		if !hugePagesAsked() {
			return
		}
		size := reserveFor(n)
		(*around)(size, func() { reserveHuge(size) })
	})
}
