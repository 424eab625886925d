//go:build !wfshlight

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
	"github.com/wfsh/wfsh/worker"
)

// A pool of type kubernetes runs each run as a Job. The worker of such a
// pool is wfsh-worker-kubernetes (package k8spool), which links the
// Kubernetes client that wfsh does not: `wfsh worker` asks the server for
// its pool's type and, for kubernetes, execs it in its place (the same
// process: a signal or kill -9 reaches it) with the server and token
// resolved here.
const kubernetesWorkerExe = "wfsh-worker-kubernetes"

type kubeWorkerFlags struct {
	template, podServer          string
	startTimeout, deadlineMargin time.Duration
}

func (k *kubeWorkerFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&k.template, "job-template", "", "kubernetes pools: the base Job template (a batch/v1 Job manifest: namespace, image, service account, resources...)")
	fl.DurationVar(&k.startTimeout, "start-timeout", 2*time.Minute, "kubernetes pools: how long a pod may be unschedulable or fail to pull its image before the run is Crashed")
	fl.DurationVar(&k.deadlineMargin, "deadline-margin", time.Minute, "kubernetes pools: added to a flow's timeout for its Jobs' activeDeadlineSeconds")
	fl.StringVar(&k.podServer, "pod-server", "", "kubernetes pools: the server's URL as the Jobs' pods reach it (default the worker's)")
}

// execKubernetesWorker replaces this process with wfsh-worker-kubernetes
// if the pool is of type kubernetes; it returns (nil) only when the pool
// is not. A server that does not answer yet is asked again (worker.Retry)
// until ctx ends.
func execKubernetesWorker(ctx context.Context, log io.Writer, c *server.Client, f *workerFlags) error {
	var p store.Pool
	var ae *server.APIError
	notFound := func(err error) bool { return errors.As(err, &ae) && (ae.Status == 404 || ae.Status == 405) }
	err := worker.Retry(ctx, log, "pool "+f.pool, func(ctx context.Context) error {
		return c.Do(ctx, "GET", "/pools/"+server.PathEscape(f.pool), nil, &p)
	}, notFound)
	switch {
	case notFound(err):
		return nil // a pool made by its first claim: process
	case err != nil:
		return err
	case p.Type != "kubernetes":
		return nil
	}
	exe, err := findKubernetesWorker()
	if err != nil {
		return err
	}
	args := []string{exe, "--pool", f.pool, "--slots", strconv.Itoa(f.slots), "--grace", f.grace.String(),
		"--job-template", f.k8s.template, "--start-timeout", f.k8s.startTimeout.String(), "--pod-server", f.k8s.podServer, "--deadline-margin", f.k8s.deadlineMargin.String()}
	if f.name != "" {
		args = append(args, "--name", f.name)
	}
	env := append(os.Environ(), "WFSH_SERVER="+c.Base, "WFSH_TOKEN="+c.Token)
	return syscall.Exec(exe, args, env)
}

// findKubernetesWorker looks next to wfsh, then on PATH, as plugins are
// found.
func findKubernetesWorker() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), kubernetesWorkerExe)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(kubernetesWorkerExe); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the pool is of type kubernetes, and %s is neither next to wfsh nor on PATH (make build puts it in bin/)", kubernetesWorkerExe)
}
