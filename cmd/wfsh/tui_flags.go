package main

import "github.com/spf13/pflag"

// tuiFlags is the --tui block of `wfsh run`: the live view of the run in
// place of log lines (docs/tui.md).
type tuiFlags struct {
	on bool
}

func (t *tuiFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&t.on, "tui", false, "show the run live in the terminal: tasks, states, progress, logs (docs/tui.md); log lines when stdout is not a terminal")
}
