package main

import "github.com/wfsh/wfsh/output"

// printableError is err's message for the terminal, its control
// characters escaped line by line (a flow's fail("\x1b[2J") clears no
// screen).
func printableError(err error) string { return output.PrintableLines(err.Error()) }
