//go:build !wfshlight

package main

import (
	"context"
	"encoding/json"
	"fmt"
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
// wfsh login), read when a run is made.
type serverDeployments struct{}

func (serverDeployments) RunDeployment(ctx context.Context, ref string, params map[string]json.RawMessage, wait bool, log func(string)) (builtins.DeploymentRun, error) {
	var none remoteFlags
	rf := none.resolve()
	if rf.server == "" {
		return builtins.DeploymentRun{}, builtins.ErrNoServer
	}
	c := &server.Client{Base: rf.server, Token: rf.token}
	flow, name, _ := strings.Cut(ref, "/")
	var run store.Run
	err := c.Do(ctx, "POST", "/deployments/"+server.PathEscape(flow)+"/"+server.PathEscape(name)+"/runs",
		server.RunRequest{Parameters: params}, &run)
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
