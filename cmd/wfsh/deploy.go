package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/bundle"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
)

type deployFlags struct {
	flow, name, pool string
	params, tags     []string
	jobVars          []string
	jobVarsFile      string
	concurrency      int
	crashRetries     int
	remote           remoteFlags
}

func newDeployCmd() *cobra.Command {
	var f deployFlags
	cmd := &cobra.Command{
		Use:   "deploy FILE",
		Short: "Upload a flow's directory and make (or update) the deployment FLOW/NAME on a server",
		Long: `Upload the flow file's directory tree (what load() and read_file may reach) as a
content-addressed bundle, and make or update the deployment FLOW/NAME with
the flow's schedules, its parameters' defaults and the given parameters.
Workers of its pool run its runs. See docs/server.md.`,
		Example: `  wfsh deploy flows/local_etl.star --name nightly --pool default -p dir=/data`,
		Args:    oneFile,
		RunE:    func(cmd *cobra.Command, args []string) error { return runDeploy(cmd, args[0], &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.flow, "flow", "", "the flow to deploy, when FILE defines several")
	fl.StringVar(&f.name, "name", "", "the deployment's name (required)")
	fl.StringVar(&f.pool, "pool", "default", "the work pool whose workers run it")
	fl.StringArrayVarP(&f.params, "param", "p", nil, "a parameter's value for every run, NAME=VALUE")
	fl.StringArrayVar(&f.tags, "tag", nil, "a tag (repeatable)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "runs of the deployment at once (0: no limit)")
	fl.IntVar(&f.crashRetries, "crash-retries", 0, "how often a crashed run is made again")
	fl.StringArrayVar(&f.jobVars, "job-var", nil, "a kubernetes pool: override a key of the pool's Job template for this deployment's runs, KEY=VALUE (VALUE as JSON or a string; the pool says which keys)")
	fl.StringVar(&f.jobVarsFile, "job-vars", "", "a kubernetes pool: a YAML or JSON file of job variables (--job-var wins)")
	f.remote.register(fl)
	return cmd
}

func runDeploy(cmd *cobra.Command, path string, f *deployFlags) error {
	if f.name == "" || strings.Contains(f.name, "/") {
		return badInput(fmt.Errorf("--name NAME is required (no /): the deployment is FLOW/NAME"))
	}
	c, err := f.remote.client()
	if err != nil {
		return err
	}
	_, params, _, err := runInputs("info", f.params, nil)
	if err != nil {
		return err
	}
	jobVars, err := jobVariables(f.jobVarsFile, f.jobVars)
	if err != nil {
		return badInput(err)
	}
	r := newRunner(cmd.ErrOrStderr(), runtime.Info, nil, 0)
	defer r.Close()
	fl, err := r.Load(path, f.flow, io.Discard)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	dir := filepath.Dir(path)
	info, err := bundle.Pack(dir, &buf, bundle.Limits{})
	if err != nil {
		return badInput(err)
	}
	ctx := cmd.Context()
	// An identical tree is uploaded once: the server says if it has it.
	uploaded := "uploaded"
	if err := c.Do(ctx, "HEAD", "/bundles/"+info.Hash, nil, nil); err == nil {
		uploaded = "already on the server"
	} else if err := c.Do(ctx, "PUT", "/bundles/"+info.Hash, buf.Bytes(), nil); err != nil {
		return remoteErr(err)
	}
	spec, err := deploymentSpec(fl, path, info.Hash, f, params)
	if err != nil {
		return badInput(err)
	}
	spec.JobVariables = jobVars
	var d server.DeploymentInfo
	if err := c.Do(ctx, "PUT", "/deployments/"+server.PathEscape(fl.Flow.Name())+"/"+server.PathEscape(f.name), spec, &d); err != nil {
		return remoteErr(err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "deployed %s (bundle %s, %d files, %s; pool %s)\n", d.Ref(), info.Hash[:12], info.Files, uploaded, d.Pool)
	for _, t := range d.Next {
		fmt.Fprintf(out, "  next run %s\n", t.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return nil
}

// deploymentSpec is what the server keeps of the loaded flow.
func deploymentSpec(fl *runner.Flow, path, hash string, f *deployFlags, params map[string]json.RawMessage) (server.DeploymentSpec, error) {
	sp := server.DeploymentSpec{File: filepath.Base(path), Bundle: hash, Pool: f.pool, Parameters: params, Tags: f.tags,
		Concurrency: f.concurrency, CrashRetries: f.crashRetries}
	for _, p := range fl.Flow.Params() {
		sp.Params = append(sp.Params, paramOf(p))
	}
	for _, s := range fl.Flow.Schedules() {
		sp.Schedules = append(sp.Schedules, s.Schedule.Spec())
	}
	if t := fl.Flow.Timeout(); t > 0 {
		sp.Timeout = t.String()
	}
	pol := fl.Flow.SchedulePolicy()
	sp.Catchup, sp.Overlap = string(pol.Catchup), string(pol.Overlap)
	if pol.LateAfter > 0 {
		sp.LateAfter = pol.LateAfter.String()
	}
	return sp, nil
}

func paramOf(p builtins.Param) server.Param {
	sp := server.Param{Name: p.Name}
	if p.Default != nil {
		if b, err := builtins.EncodeJSON(p.Default); err == nil {
			sp.Default = b
			sp.Type = server.JSONType(b)
		}
	}
	return sp
}

// remoteErr is an error of the server or of reaching it: bad input when
// the server refused what was sent (4xx), else a failure.
func remoteErr(err error) error {
	var ae *server.APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
		return badInput(err)
	}
	return &exitError{code: exitFailed, err: err}
}
