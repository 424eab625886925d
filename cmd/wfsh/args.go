package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// oneFile checks that a command got exactly one FILE argument.
func oneFile(cmd *cobra.Command, args []string) error {
	switch len(args) {
	case 0:
		return fmt.Errorf("missing FILE, the flow file")
	case 1:
		return nil
	}
	return fmt.Errorf("want one FILE, got %d arguments: %s", len(args), strings.Join(args, " "))
}

// starFiles completes FILE arguments with .star files.
func starFiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"star"}, cobra.ShellCompDirectiveFilterFileExt
}
