// Command wfsh-worker-kubernetes is the worker of a work pool of type
// kubernetes: each run it claims becomes a Job (package k8spool). `wfsh
// worker --pool P` execs it when P's type is kubernetes, so that wfsh
// itself links no Kubernetes client; it sits next to wfsh (`make build`).
// The server and token come from WFSH_SERVER and WFSH_TOKEN; the cluster
// from KUBECONFIG, ~/.kube/config, or the pod's service account. See
// docs/kubernetes.md, "The kubernetes work pool".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/wfsh/wfsh/k8spool"
	"github.com/wfsh/wfsh/server"
)

func main() {
	var cfg k8spool.Config
	var tmpl string
	fl := pflag.NewFlagSet("wfsh-worker-kubernetes", pflag.ContinueOnError)
	fl.StringVar(&cfg.Pool, "pool", "default", "the work pool (of type kubernetes)")
	fl.StringVar(&cfg.Name, "name", "", "the worker's name (default the host name)")
	fl.IntVar(&cfg.Slots, "slots", 1, "runs (Jobs) at once")
	fl.DurationVar(&cfg.Grace, "grace", 30*time.Second, "how long a draining worker waits for its runs")
	fl.StringVar(&tmpl, "job-template", "", "the pool's base Job template when the server keeps none for it (a batch/v1 Job manifest: namespace, image, service account, resources...)")
	fl.DurationVar(&cfg.StartTimeout, "start-timeout", 2*time.Minute, "how long a pod may be unschedulable or fail to pull its image before the run is Crashed")
	fl.StringVar(&cfg.PodServer, "pod-server", "", "the server's URL as the Jobs' pods reach it (default WFSH_SERVER)")
	ttl := fl.Int32("ttl", 600, "the Jobs' ttlSecondsAfterFinished")
	fl.DurationVar(&cfg.DeadlineMargin, "deadline-margin", k8spool.DeadlineMargin, "added to a flow's timeout for its Jobs' activeDeadlineSeconds")
	if err := fl.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	cfg.TTL = *ttl
	if err := run(cfg, tmpl); err != nil {
		fmt.Fprintln(os.Stderr, "wfsh worker:", err)
		os.Exit(1)
	}
}

func run(cfg k8spool.Config, tmpl string) error {
	if tmpl != "" {
		t, err := k8spool.LoadTemplate(tmpl)
		if err != nil {
			return err
		}
		cfg.Template = t
	}
	cfg.API = &server.Client{Base: os.Getenv("WFSH_SERVER"), Token: os.Getenv("WFSH_TOKEN")}
	if cfg.API.Base == "" {
		return fmt.Errorf("no server: set WFSH_SERVER")
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("no Kubernetes configuration: %w", err)
	}
	rc.QPS, rc.Burst = 200, 400
	if cfg.Kube, err = kubernetes.NewForConfig(rc); err != nil {
		return err
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	cfg.Log = os.Stderr
	w, err := k8spool.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("wfsh worker %s: pool %s (kubernetes), %d slot(s), server %s\n", w.ID(), cfg.Pool, cfg.Slots, cfg.API.Base)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return w.Run(ctx)
}
