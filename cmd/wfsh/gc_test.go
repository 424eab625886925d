package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func gcPercentNow() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// withoutGCEnv runs a test with neither GOGC nor GOMEMLIMIT set, and puts
// the collector's settings back after it.
func withoutGCEnv(t *testing.T) {
	p, lim := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(p); debug.SetMemoryLimit(lim) })
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
}

// tuneGC: no collection below gcQuietHeap, then GOGC=gcPercent with no
// limit from the first collection on.
func TestTuneGC(t *testing.T) {
	withoutGCEnv(t)

	tuneGC()
	if p, lim := gcPercentNow(), debug.SetMemoryLimit(-1); p != -1 || lim != gcQuietHeap {
		t.Fatalf("before the first collection: GOGC %d, limit %d; want off, %d", p, lim, gcQuietHeap)
	}
	collectUntilSteady(t)
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Errorf("memory limit after the first collection: %d, want none", lim)
	}
}

// GOGC from the user wins; GOMEMLIMIT alone is kept, with GOGC=gcPercent.
func TestTuneGCLeavesUserSettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, c := range []struct {
		env, val string
		want     int
	}{{"GOGC", "150", 123}, {"GOMEMLIMIT", "1GiB", gcPercent}} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(c.env, c.val)
			debug.SetGCPercent(123)
			debug.SetMemoryLimit(1 << 30)
			tuneGC()
			if p := gcPercentNow(); p != c.want {
				t.Errorf("with %s set: GOGC %d, want %d", c.env, p, c.want)
			}
			if lim := debug.SetMemoryLimit(-1); lim != 1<<30 {
				t.Errorf("with %s set: memory limit changed to %d", c.env, lim)
			}
		})
	}
}

// streamGC: GOGC=streamGCPercent at once and after the first collection
// (which would otherwise switch to gcPercent).
func TestStreamGC(t *testing.T) {
	withoutGCEnv(t)

	tuneGC()
	streamGC()
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p, lim := gcPercentNow(), debug.SetMemoryLimit(-1); p != streamGCPercent || lim != math.MaxInt64 {
			t.Fatalf("GOGC %d, limit %d; want %d, none", p, lim, streamGCPercent)
		}
	}
}

// quietReserve: the reservation's collection keeps the quiet heap, raised
// by the block's size, once the first sentinel's cleanup has run; the next
// collection ends it as usual.
func TestQuietReserve(t *testing.T) {
	withoutGCEnv(t)

	tuneGC()
	ran := quietCleanups.Load()
	const size = 8 << 20
	var limitDuring int64
	quietReserve(size, func() {
		limitDuring = debug.SetMemoryLimit(-1)
		runtime.GC()
	})
	if limitDuring != gcQuietHeap+size {
		t.Errorf("memory limit while reserving: %d, want %d", limitDuring, gcQuietHeap+size)
	}
	deadline := time.Now().Add(10 * time.Second)
	for quietCleanups.Load() == ran {
		if time.Now().After(deadline) {
			t.Fatal("the sentinel's cleanup did not run after the forced collection")
		}
		time.Sleep(time.Millisecond)
	}
	if p, lim := gcPercentNow(), debug.SetMemoryLimit(-1); p != -1 || lim != gcQuietHeap+size {
		t.Fatalf("after the reservation: GOGC %d, limit %d; want off, %d", p, lim, gcQuietHeap+size)
	}
	collectUntilSteady(t)
}

// collectUntilSteady collects until the first collection's cleanup has
// switched to GOGC=gcPercent, for at most 10 s.
func collectUntilSteady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for gcPercentNow() != gcPercent {
		if time.Now().After(deadline) {
			t.Fatalf("after collections: GOGC %d, want %d", gcPercentNow(), gcPercent)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// quietReserve reserves nothing when the user set GOGC: the quiet heap is
// not on.
func TestQuietReserveLeavesUserSettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "")
	quiet.Lock()
	quiet.armed = false // as a process that never armed it
	quiet.Unlock()
	tuneGC()
	called := false
	quietReserve(8<<20, func() { called = true })
	if called {
		t.Error("reserved with GOGC set")
	}
	if lim := debug.SetMemoryLimit(-1); lim == gcQuietHeap+8<<20 {
		t.Errorf("memory limit raised to %d with GOGC set", lim)
	}
}
