//go:build !wfshlight

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// flowDeployments start the runs of run_deployment() in flows.
var flowDeployments builtins.Deployments = serverDeployments{}

// serverDeployments starts the runs of run_deployment() in flows on the
// server the CLI names (WFSH_SERVER and WFSH_TOKEN, else the profile of
// wfsh login), read when a run is made. In a run a server's worker runs
// (WFSH_RUN_ID names it), the new run is made as that run's child: the
// worker's token, or the Job's run token, may make, follow and cancel
// the runs of the run it holds, and cancelling that run cancels them.
type serverDeployments struct{}

func (serverDeployments) RunDeployment(ctx context.Context, call builtins.DeploymentCall, log func(string)) (builtins.DeploymentRun, error) {
	var none remoteFlags
	rf := none.resolve()
	if rf.server == "" {
		return builtins.DeploymentRun{}, builtins.ErrNoServer
	}
	c := &server.Client{Base: rf.server, Token: rf.token}
	ref, wait := call.Ref, call.Wait
	var run store.Run
	var err error
	if parent := os.Getenv("WFSH_RUN_ID"); parent != "" {
		err = c.Do(ctx, "POST", "/runs/"+server.PathEscape(parent)+"/children",
			server.ChildRunRequest{Deployment: ref, Parameters: call.Params, TaskRun: call.TaskRun}, &run)
	} else {
		flow, name, _ := strings.Cut(ref, "/")
		err = c.Do(ctx, "POST", "/deployments/"+server.PathEscape(flow)+"/"+server.PathEscape(name)+"/runs",
			server.RunRequest{Parameters: call.Params}, &run)
	}
	if err != nil {
		return builtins.DeploymentRun{}, remoteErr(err)
	}
	out := builtins.DeploymentRun{ID: run.ID, URL: strings.TrimSuffix(c.Base, "/") + "/runs/" + run.ID, State: run.State}
	log(fmt.Sprintf("run %s of deployment %s made on %s: %s", run.ID, ref, c.Base, out.URL))
	if !wait {
		return out, nil
	}
	st, err := followLogs(ctx, c, run.ID, "", true, runtime.Discard)
	if ctx.Err() != nil {
		cancelDeploymentRun(c, run.ID, log)
		return out, ctx.Err()
	}
	if err != nil {
		return out, err
	}
	var d server.RunDetail
	if err := c.Do(ctx, "GET", "/runs/"+run.ID, nil, &d); err != nil {
		return out, remoteErr(err)
	}
	out.State, out.Msg = st, d.Run.Message
	log(fmt.Sprintf("run %s of deployment %s ended %s", run.ID, ref, st))
	return out, nil
}

// cancelDeploymentRun asks the server to cancel a deployment's run that a
// cancelled flow run was waiting for: cancelling a run cancels its
// children, a subflow's child run or a deployment's run alike.
func cancelDeploymentRun(c *server.Client, id string, log func(string)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Do(ctx, "POST", "/runs/"+server.PathEscape(id)+"/cancel", nil, nil); err != nil {
		log(fmt.Sprintf("run %s could not be cancelled: %v", id, remoteErr(err)))
		return
	}
	log(fmt.Sprintf("run %s cancelled", id))
}
