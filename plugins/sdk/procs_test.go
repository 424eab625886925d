package sdk

import (
	"runtime"
	"testing"
)

// Plugin.Procs sets GOMAXPROCS when above 0, unless the environment sets it.
func TestSetProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cases := []struct {
		env        string
		procs, was int
		want       int
	}{
		{env: "", procs: 0, was: 2, want: 2},
		{env: "", procs: 1, was: 2, want: 1},
		{env: "", procs: 3, was: 1, want: 3},
		{env: "2", procs: 1, was: 2, want: 2},
	}
	for _, c := range cases {
		t.Setenv("GOMAXPROCS", c.env)
		runtime.GOMAXPROCS(c.was)
		setProcs(c.procs)
		if got := runtime.GOMAXPROCS(0); got != c.want {
			t.Errorf("GOMAXPROCS=%q, Procs %d: got %d, want %d", c.env, c.procs, got, c.want)
		}
	}
}
