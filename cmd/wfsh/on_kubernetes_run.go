//go:build !wfshlight

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/plugins/host"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runner/pluginhost"
	"github.com/wfsh/wfsh/runtime"
)

// runOnKubernetes builds the flow here (so that bad input is found before
// anything is submitted), ships the files its load read and the run's
// arguments to @kubernetes's submit_flow_run, prints the run's log as it
// comes, and exits as the run in the cluster did.
func runOnKubernetes(cmd *cobra.Command, path string, f *runFlags) error {
	level, params, ctxKV, err := runInputs(f.logLevel, f.params, f.context)
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	r := newRunner(stderr, level, nil, 0)
	defer r.Close()
	fl, err := r.Load(path, f.flow, stderr)
	if err != nil {
		return err
	}
	// Built here so that bad input is found before anything is submitted.
	run, err := r.Prepare(cmd.Context(), fl, runner.Request{Params: params, Context: ctxKV})
	if err != nil {
		return err
	}
	args, err := submitArgs(fl.Module, path, fl.Flow.Name(), f)
	if err != nil {
		return badInput(err)
	}
	plugins := r.Plugins().(*pluginhost.Host).Manager()
	if err := checkRunner(cmd.Context(), plugins); err != nil {
		return badInput(err)
	}
	ctx, stop := runner.WithInterrupts(cmd.Context(), func() {
		r.Close()
		os.Exit(exitInterrupted)
	})
	defer stop()
	req := &pb.CallRequest{Function: "submit_flow_run", Args: args, FlowRunId: run.ID}
	v, err := plugins.Call(ctx, "kubernetes", req, remoteLog(stdout, stderr, level))
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "wfsh: interrupted: the flow run's Job is deleted")
		return &exitError{code: exitInterrupted}
	}
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("wfsh run --on kubernetes: %v", err)}
	}
	return remoteExit(stderr, v)
}

// checkRunner makes sure the @kubernetes plugin is there and can submit a
// flow run.
func checkRunner(ctx context.Context, plugins *host.Manager) error {
	d, err := plugins.Describe(ctx, "kubernetes")
	if err != nil {
		return fmt.Errorf("--on kubernetes needs the @kubernetes plugin (wfsh-plugin-kubernetes, installed with wfsh): %v", err)
	}
	for _, fn := range d.GetFunctions() {
		if fn.GetName() == "submit_flow_run" {
			return nil
		}
	}
	return fmt.Errorf("--on kubernetes: the @kubernetes plugin %s has no submit_flow_run: install the one that comes with this wfsh", d.GetVersion())
}

// submitArgs are submit_flow_run's arguments: the files, the job spec and
// what `wfsh run` in the cluster is given.
func submitArgs(m *builtins.Module, path, flowName string, f *runFlags) ([]*pb.Entry, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	flowFile, err := filepath.Rel(m.Root(), abs)
	if err != nil {
		return nil, err
	}
	files := map[string]any{}
	for _, rel := range m.Files() {
		b, err := os.ReadFile(filepath.Join(m.Root(), filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if utf8.Valid(b) {
			files[rel] = string(b)
		} else {
			files[rel] = b
		}
	}
	var remote []any
	if f.flow != "" {
		remote = append(remote, "--flow", f.flow)
	}
	for _, p := range f.params {
		remote = append(remote, "-p", p)
	}
	for _, c := range f.context {
		remote = append(remote, "--context", c)
	}
	if f.concurrency > 0 {
		remote = append(remote, "--concurrency", strconv.Itoa(f.concurrency))
	}
	if f.json {
		remote = append(remote, "--json")
	}
	if f.logLevel != "info" {
		remote = append(remote, "--log-level", f.logLevel)
	}
	given := map[string]any{
		"files":     files,
		"flow_file": filepath.ToSlash(flowFile),
		"flow_name": flowName,
		"args":      remote,
	}
	if f.on.image != "" {
		given["image"] = f.on.image
	}
	if f.on.namespace != "" {
		given["namespace"] = f.on.namespace
	}
	if f.on.jobSpec != "" {
		b, err := os.ReadFile(f.on.jobSpec)
		if err != nil {
			return nil, fmt.Errorf("--job-spec: %v", err)
		}
		given["job_spec"] = string(b)
		given["job_spec_path"] = f.on.jobSpec
	}
	var entries []*pb.Entry
	for _, k := range []string{"image", "namespace", "job_spec", "job_spec_path", "files", "flow_file", "flow_name", "args"} {
		v, ok := given[k]
		if !ok {
			continue
		}
		w, err := sdk.Encode(v)
		if err != nil {
			return nil, err
		}
		key, _ := sdk.Encode(k)
		entries = append(entries, &pb.Entry{Key: key, Value: w})
	}
	return entries, nil
}

// remoteLog prints the run's log as it comes: the lines of wfsh in the
// Job's container (info) on stdout as they are, the runner's own notes on
// stderr (details at --log-level debug only).
func remoteLog(stdout, stderr io.Writer, level runtime.Level) func(*pb.LogLine) {
	return func(l *pb.LogLine) {
		switch l.GetLevel() {
		case pb.LogLine_INFO:
			fmt.Fprintln(stdout, l.GetText())
		case pb.LogLine_DEBUG:
			if level <= runtime.Debug {
				fmt.Fprintln(stderr, "wfsh: "+l.GetText())
			}
		default:
			fmt.Fprintln(stderr, "wfsh: "+l.GetText())
		}
	}
}

// remoteExit exits as the run in the cluster did: its exit status when
// wfsh reported one, else 1 for a Job that failed.
func remoteExit(stderr io.Writer, v *pb.Value) error {
	d, err := sdk.Decode(v)
	res, ok := d.(map[string]any)
	if err != nil || !ok {
		return &exitError{code: exitFailed, err: fmt.Errorf("wfsh run --on kubernetes: the plugin returned %v", d)}
	}
	code, _ := res["exit_code"].(int64)
	fmt.Fprintf(stderr, "wfsh: job %v/%v: %v\n", res["namespace"], res["job"], res["status"])
	switch code {
	case exitSuccess:
		return nil
	case exitFailed, exitBadInput, exitInterrupted:
		return &exitError{code: int(code)}
	}
	return &exitError{code: exitFailed}
}
