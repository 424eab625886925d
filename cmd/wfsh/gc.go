package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
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

// steadyGCPercent is the GOGC that the first collection switches to:
// gcPercent, or streamGCPercent once streamGC was called.
var steadyGCPercent atomic.Int32

// streamGCPercent is GOGC for commands that stream a large volume through
// a small live heap (wfsh logs): their garbage is made at the rate they
// write, so a larger GOGC buys little time and costs memory (wfsh logs of
// a 100 MB run: 105 MiB peak at 400, 62 MiB at 100, the same CPU).
const streamGCPercent = 100

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
	steadyGCPercent.Store(gcPercent)
	quietGC(gcQuietHeap)
}

// quiet guards the switch from the quiet heap to the steady settings.
var quiet struct {
	sync.Mutex
	gen   int // of the sentinel that is armed
	armed bool
}

// quietCleanups counts the sentinels' cleanups that ran (for tests).
var quietCleanups atomic.Int32

// quietGC turns collection off below limit (gcQuietHeap, or more) and
// arms a sentinel: the first collection frees it, and its cleanup switches
// to the steady-state settings, unless quietGC armed a newer one
// meanwhile.
func quietGC(limit int64) {
	quiet.Lock()
	defer quiet.Unlock()
	quiet.gen++
	quiet.armed = true
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(limit)
	sentinel := new([64]byte)
	runtime.AddCleanup(sentinel, func(gen int) {
		quiet.Lock()
		defer quiet.Unlock()
		quietCleanups.Add(1)
		if gen != quiet.gen {
			return
		}
		quiet.armed = false
		debug.SetGCPercent(int(steadyGCPercent.Load()))
		debug.SetMemoryLimit(math.MaxInt64)
	}, quiet.gen)
}

// quietReserve runs the reservation of a large run's heap (runtime's
// ExpectTasks: size bytes allocated, then collected) while wfsh's quiet
// heap is on, and keeps it on: that collection, of the small heap a run
// starts with, is not the first one of a heap that has grown. The quiet
// heap grows by size, from before the block is allocated, since the block
// stays mapped (free, for the run to fill) and counts against the memory
// limit. With GOGC or GOMEMLIMIT from the user, or after the first
// collection, it reserves nothing: the block would count against their
// limit, and a heap that has grown has its pages already.
func quietReserve(size int, reserve func()) {
	quiet.Lock()
	armed := quiet.armed
	if armed {
		debug.SetMemoryLimit(gcQuietHeap + int64(size))
	}
	quiet.Unlock()
	if !armed {
		return
	}
	reserve()
	quietGC(gcQuietHeap + int64(size))
}

// streamGC sets GOGC=streamGCPercent with no memory limit, now and after
// the first collection, unless GOGC or GOMEMLIMIT is in the environment.
func streamGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	steadyGCPercent.Store(streamGCPercent)
	debug.SetGCPercent(streamGCPercent)
	debug.SetMemoryLimit(math.MaxInt64)
}
