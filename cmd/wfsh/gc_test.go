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

// tuneGC: no collection below gcQuietHeap, then GOGC=gcPercent with no
// limit from the first collection on.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")

	tuneGC()
	if p, lim := gcPercentNow(), debug.SetMemoryLimit(-1); p != -1 || lim != gcQuietHeap {
		t.Fatalf("before the first collection: GOGC %d, limit %d; want off, %d", p, lim, gcQuietHeap)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gcPercentNow() != gcPercent {
		if time.Now().After(deadline) {
			t.Fatalf("after collections: GOGC %d, want %d", gcPercentNow(), gcPercent)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Errorf("memory limit after the first collection: %d, want none", lim)
	}
}

// GOGC or GOMEMLIMIT from the user wins.
func TestTuneGCLeavesUserSettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, "150")
			debug.SetGCPercent(123)
			tuneGC()
			if p := gcPercentNow(); p != 123 {
				t.Errorf("GOGC changed to %d with %s set", p, env)
			}
		})
	}
}
