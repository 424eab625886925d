package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
)

func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "check FILE",
		Short:             "Build every flow of FILE into a graph and report every problem, running no task",
		Example:           `  wfsh check flows/hello_world.star`,
		Args:              oneFile,
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return check(cmd, args[0])
		},
	}
}

func check(cmd *cobra.Command, path string) error {
	if err := handOffFlow(path); err != nil {
		return err
	}
	r := newRunner(cmd.ErrOrStderr(), runtime.Info, nil, 0)
	defer r.Close()
	fls, err := r.LoadAll(path, nil)
	if err != nil {
		return err
	}
	var errs runtime.ErrorList
	for _, fl := range fls {
		f := fl.Flow
		b, err := f.Build(builtins.BuildOptions{Check: true})
		if err != nil {
			errs = append(errs, asList(err)...)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: flow %s: %s, ok\n", f.Pos(), output.Printable(f.Name()), plural(countTasks(b.Graph), "task call"))
	}
	if len(errs) > 0 {
		errs.Sort()
		return badInput(errs)
	}
	return nil
}

func asList(err error) runtime.ErrorList {
	switch e := err.(type) {
	case runtime.ErrorList:
		return e
	case *runtime.PosError:
		return runtime.ErrorList{e}
	}
	return runtime.ErrorList{{Msg: err.Error()}}
}

func countTasks(g *runtime.Graph) int {
	n := 0
	for _, node := range g.Nodes {
		if node.Kind == runtime.TaskNode {
			n++
		}
	}
	return n
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
