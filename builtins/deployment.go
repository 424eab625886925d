package builtins

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/runtime"
)

// Deployments start runs of a server's deployments, for run_deployment().
type Deployments interface {
	// RunDeployment makes a run of deployment c.Ref ("FLOW/NAME") with
	// c.Params (JSON values) and, with c.Wait, follows it to its end. log
	// gets what a user should read in the task run's log: the run's id
	// and where to see it. The state is the run's final one, or its first
	// (Scheduled) when not waited for.
	RunDeployment(ctx context.Context, c DeploymentCall, log func(string)) (DeploymentRun, error)
}

// DeploymentCall is one call of run_deployment().
type DeploymentCall struct {
	Ref    string // FLOW/NAME
	Params map[string]json.RawMessage
	Wait   bool
	// TaskRun is the name of the task run that calls (with [i] when
	// mapped).
	TaskRun string
}

// DeploymentRun is a run made by run_deployment().
type DeploymentRun struct {
	ID, URL string
	State   runtime.State
	Msg     string
}

// ErrNoServer is what Deployments return when no server is named.
var ErrNoServer = fmt.Errorf("no server: set WFSH_SERVER and WFSH_TOKEN (or run wfsh login URL) to start runs of deployments")

// runDeployment is run_deployment("FLOW/NAME", parameters={...},
// wait=True) in a flow body: a task node that starts a run of the
// deployment on the server and, with wait, ends as that run ends (Prefect
// 1's StartFlowRun). Its result is {"run_id", "state", "url"}.
func runDeployment(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	b := builderOf(thread)
	if b == nil {
		return nil, fmt.Errorf("run_deployment: only inside a @flow function body, where it adds a task")
	}
	var ref string
	var params starlark.Value = starlark.NewDict(0)
	wait := true
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &ref, "parameters?", &params, "wait?", &wait); err != nil {
		return nil, err
	}
	if flow, name, ok := strings.Cut(ref, "/"); !ok || flow == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("run_deployment: want a deployment as \"FLOW/NAME\", got %q", ref)
	}
	if _, ok := params.(*starlark.Dict); !ok {
		if _, ok := params.(*TaskRef); !ok {
			return nil, fmt.Errorf("run_deployment: parameters must be a dict, got %s", params.Type())
		}
	}
	pos := callerPos(thread)
	n := &runtime.Node{Name: b.uniqueName("run_deployment"), Task: "run_deployment", Pos: pos, DefPos: pos,
		Trigger: runtime.AllSuccessful, SkipOnUpstreamSkip: true}
	body := &starBody{fn: deploymentBody(envOf(thread), ref, wait), run: b.run}
	if err := b.bindArgs(n, body, "run_deployment", starlark.Tuple{params}, nil, false); err != nil {
		return nil, err
	}
	n.Body = body
	return b.add(n), nil
}

// deploymentBody is a run_deployment node's function: given the
// parameters' values, it starts the run.
func deploymentBody(e *env, ref string, wait bool) *starlark.Builtin {
	return starlark.NewBuiltin("run_deployment", func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		tr := taskRunOf(thread)
		if tr == nil {
			return nil, fmt.Errorf("run_deployment: not in a task run")
		}
		d := e.opts.Deployments
		if d == nil {
			return nil, fmt.Errorf("run_deployment %s: %w", ref, ErrNoServer)
		}
		params, err := deploymentParams(args[0], tr.run.redactor)
		if err != nil {
			return nil, fmt.Errorf("run_deployment %s: %v", ref, err)
		}
		log := func(s string) { tr.call.Log(runtime.Info, s) }
		run, err := d.RunDeployment(tr.ctx, DeploymentCall{Ref: ref, Params: params, Wait: wait, TaskRun: tr.call.TaskRun}, log)
		if err != nil {
			return nil, fmt.Errorf("run_deployment %s: %w", ref, err)
		}
		if wait && !run.State.Successful() {
			return nil, fmt.Errorf("run_deployment %s: run %s ended %s: %s", ref, run.ID, run.State, run.Msg)
		}
		out := starlark.NewDict(3)
		_ = out.SetKey(starlark.String("run_id"), starlark.String(run.ID))
		_ = out.SetKey(starlark.String("state"), starlark.String(run.State.String()))
		_ = out.SetKey(starlark.String("url"), starlark.String(run.URL))
		return out, nil
	})
}

// deploymentParams turns a dict of parameters into JSON values, as the
// server takes them; a secret is not sent.
func deploymentParams(v starlark.Value, red *runtime.Redactor) (map[string]json.RawMessage, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("parameters must be a dict, got %s", v.Type())
	}
	out := make(map[string]json.RawMessage, d.Len())
	for _, kv := range d.Items() {
		k, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("parameters: a key is %s, want a parameter name", kv[0].Type())
		}
		j, err := appendResult(nil, kv[1], red)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %v", k, err)
		}
		out[k] = j
	}
	return out, nil
}
