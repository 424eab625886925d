package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
)

// onFlags send a run elsewhere: `wfsh run --on kubernetes --image IMG
// FILE` runs the flow as a Kubernetes Job (Prefect's
// KubernetesJobEnvironment). wfsh itself links no Kubernetes client: the
// @kubernetes plugin submits the Job and follows it.
type onFlags struct {
	on        string
	image     string
	namespace string
	jobSpec   string
}

func (o *onFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&o.on, "on", "", "where the flow runs: kubernetes (as a Job, through the @kubernetes plugin); default here")
	fl.StringVar(&o.image, "image", "", "with --on kubernetes: the container image with wfsh in it")
	fl.StringVar(&o.namespace, "namespace", "", "with --on kubernetes: the namespace of the Job (default: the job spec's, else the kubeconfig's)")
	fl.StringVar(&o.jobSpec, "job-spec", "", "with --on kubernetes: a batch/v1 Job manifest (YAML) to start from: resources, env from Secrets, service account...")
}

// check refuses the --on flags' mistakes; remote reports whether the run
// goes elsewhere.
func (o *onFlags) check(f *runFlags) (remote bool, err error) {
	switch o.on {
	case "", "local":
		if o.image != "" || o.namespace != "" || o.jobSpec != "" {
			return false, errors.New("--image, --namespace and --job-spec go with --on kubernetes")
		}
		return false, nil
	case "kubernetes":
	default:
		return false, fmt.Errorf("--on %q: want kubernetes (or leave --on out to run here)", o.on)
	}
	if f.record || f.store.path != "" {
		return false, errors.New("--on kubernetes: the run is not recorded here; leave out --record and --store")
	}
	if f.resume != "" {
		return false, errors.New("--on kubernetes: --resume needs the run store of this machine; resume runs here")
	}
	if f.tui.on {
		return false, errors.New("--on kubernetes: the live view (--tui) shows runs on this machine only; the cluster's run is followed as log lines")
	}
	return true, nil
}
