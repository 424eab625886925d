package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
)

// gcQuietHeap is how much memory the Go runtime may hold before wfsh's
// first garbage collection. Most runs never reach it: a flow of 10,000
// tasks (W3) peaks at about 41 MiB resident, and collecting while it
// builds and runs took 10–18 % of its wall time on 2 cores
// (docs/performance.md).
const gcQuietHeap = 64 << 20

// gcPercent is GOGC from the first collection on: garbage may grow to four
// times the live heap between collections, for speed over memory.
const gcPercent = 400

// tuneGC collects no garbage until the runtime holds gcQuietHeap, then
// collects as GOGC=gcPercent would, with no memory limit. GOGC in the
// environment leaves Go's settings alone; GOMEMLIMIT alone (as in a
// container) is kept, with GOGC=gcPercent.
func tuneGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		debug.SetGCPercent(gcPercent)
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(gcQuietHeap)
	// The first collection frees the sentinel; its cleanup switches to
	// the steady-state settings.
	sentinel := new([64]byte)
	runtime.AddCleanup(sentinel, func(int) {
		debug.SetGCPercent(gcPercent)
		debug.SetMemoryLimit(math.MaxInt64)
	}, 0)
}
