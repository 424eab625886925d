// Package kubernetes is the @kubernetes plugin: batch/v1 Jobs as tasks
// (Prefect's RunNamespacedJob), the functions a task body uses to create,
// delete and read Jobs and pod logs, and the runner that submits a whole
// flow run as a Job (`wfsh run --on kubernetes`). It is served by its own
// executable, wfsh-plugin-kubernetes, so that client-go is linked only
// there.
package kubernetes

import (
	"context"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// Plugin returns the @kubernetes plugin, with clients made from the
// kubeconfig or in-cluster configuration of the process.
func Plugin() *sdk.Plugin { return newPlugin(newClients()).sdkPlugin() }

// plugin holds what the functions share: the API clients, one per
// kubeconfig context.
type plugin struct {
	clients *clients
}

func newPlugin(c *clients) *plugin { return &plugin{clients: c} }

// common parameters
var (
	paramNamespace   = sdk.Param{Name: "namespace", Doc: "the namespace (default: the manifest's, else the kubeconfig context's, else \"default\")"}
	paramKubeContext = sdk.Param{Name: "kube_context", Doc: "a context of the kubeconfig (default: its current context)"}
)

func (p *plugin) sdkPlugin() *sdk.Plugin {
	return &sdk.Plugin{
		Name:    "kubernetes",
		Version: Version,
		Functions: []sdk.Function{
			{
				Name: "run_job",
				Doc:  "Create a Job from a manifest, follow it to Complete or Failed with its pods' logs in the task log, and delete it afterwards.",
				Params: []sdk.Param{
					{Name: "body", Required: true, Doc: "the batch/v1 Job manifest, a dict (load_yaml) or YAML text"},
					paramNamespace,
					{Name: "delete_job_after_completion", Default: true, Doc: "delete the Job (background propagation) once it has finished"},
					{Name: "log_level", Default: "info", Doc: "the level of the pods' log lines in the task log: debug, info, warning, error; None to not stream them"},
					{Name: "wait", Default: true, Doc: "follow the Job to the end; False returns as soon as it is created"},
					paramKubeContext,
				},
				Run: p.runJob,
			},
			{
				Name: "create_namespaced_job",
				Doc:  "Create a Job from a manifest, with the name it gives, and return the created Job.",
				Params: []sdk.Param{
					{Name: "body", Required: true, Doc: "the batch/v1 Job manifest, a dict or YAML text"},
					paramNamespace,
					paramKubeContext,
				},
				Run: p.createJob,
			},
			{
				Name: "delete_namespaced_job",
				Doc:  "Delete a Job and, by default, its pods (background propagation).",
				Params: []sdk.Param{
					{Name: "name", Required: true, Doc: "the Job's name"},
					paramNamespace,
					{Name: "propagation_policy", Default: "Background", Doc: "Background, Foreground or Orphan"},
					{Name: "ignore_not_found", Default: false, Doc: "succeed when the Job does not exist"},
					paramKubeContext,
				},
				Run: p.deleteJob,
			},
			{
				Name: "read_namespaced_pod_logs",
				Doc:  "Return the log of a pod's container as one string.",
				Params: []sdk.Param{
					{Name: "name", Required: true, Doc: "the pod's name"},
					paramNamespace,
					{Name: "container", Doc: "the container (default: the pod's only one)"},
					{Name: "tail_lines", Doc: "only the last N lines"},
					paramKubeContext,
				},
				Run: p.readPodLogs,
			},
			{
				Name: "submit_flow_run",
				Doc:  "Submit a flow run as a Job that runs wfsh in the cluster and follow it (used by `wfsh run --on kubernetes`).",
				Params: []sdk.Param{
					{Name: "files", Required: true, Doc: "the flow's files: a dict of path (relative to the flow's directory) to content"},
					{Name: "flow_file", Required: true, Doc: "the flow file's path among files"},
					{Name: "image", Doc: "the image with wfsh in it (default: the job spec's)"},
					paramNamespace,
					{Name: "job_spec", Doc: "a batch/v1 Job manifest (YAML text) to start from"},
					{Name: "job_spec_path", Doc: "where job_spec was read from, for messages"},
					{Name: "flow_name", Doc: "the flow's name, for the Job's name and labels"},
					{Name: "args", Default: []any{}, Doc: "more arguments of `wfsh run` in the cluster (--flow, -p, --context)"},
					{Name: "follow", Default: true, Doc: "stream the run's log and wait for its end"},
					{Name: "delete_job_after_completion", Default: true, Doc: "delete the Job and its ConfigMap once the run has finished"},
					paramKubeContext,
				},
				Run: p.submitFlowRun,
			},
		},
		Tasks: []sdk.TaskConstructor{{
			Name:     "run_namespaced_job",
			Doc:      "A task that runs a Kubernetes Job (Prefect's RunNamespacedJob).",
			Function: "run_job",
		}},
	}
}

// callLog adapts an sdk.Call's log for the code below, which takes a plain
// function so that tests can collect the lines.
func callLog(c *sdk.Call) logFunc {
	return func(l sdk.Level, text string) { c.Log(l, text) }
}

// logFunc writes a line to the calling task's log.
type logFunc func(level sdk.Level, text string)

func (p *plugin) client(ctx context.Context, c *sdk.Call) (*client, error) {
	return p.clients.get(ctx, c.String("kube_context"))
}
