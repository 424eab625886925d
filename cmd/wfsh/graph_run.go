package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/pflag"
	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
)

func registerGraphRunFlags(fl *pflag.FlagSet, f *graphFlags) {
	fl.StringVar(&f.run, "run", "", "colour the nodes by the states of this recorded run (its id or a unique prefix)")
	f.store.register(fl)
}

// runStates reads, for --run RUN, the final state of each task run of a
// recorded run, by run name. The flow is built with that run's flow and
// parameters unless -p or --flow say otherwise, so that its graph is the
// one that ran.
func runStates(ctx context.Context, f *graphFlags, params *map[string]starlark.Value) (map[string]runtime.State, error) {
	if f.run == "" {
		return nil, nil
	}
	st, run, err := f.store.openRun(ctx, f.run)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	trs, err := st.TaskRuns(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	states := map[string]runtime.State{}
	for _, tr := range trs {
		if tr.MapIndex < 0 {
			states[tr.Name] = tr.State
		}
	}
	if f.flow == "" {
		f.flow = run.Flow
	}
	if len(f.params) == 0 {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(run.Parameters, &raw); err != nil {
			return nil, fmt.Errorf("run %s: stored parameters: %w", runner.ShortID(run.ID), err)
		}
		for k, v := range raw {
			(*params)[k] = runner.ParamValue(string(v))
		}
	}
	return states, nil
}
