package main

import (
	"runtime"
	"runtime/debug"
)

// version is what `wfsh --version` prints after "wfsh ": the module
// version the go command stamped into the executable (from the commit's
// tag, else a pseudo-version of the commit; "(devel)" without one), the
// commit when it was stamped (not under -buildvcs=false), and the Go
// toolchain that built it.
func version() string {
	v, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && len(s.Value) >= 12:
				rev = " " + s.Value[:12] + rev
			case s.Key == "vcs.modified" && s.Value == "true":
				rev += "+dirty"
			}
		}
	}
	return v + rev + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
