package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ServiceAccountDirEnv overrides where the in-cluster configuration is read
// from (a pod's service account volume). It exists so that a test can run
// the in-cluster code path outside a cluster.
const ServiceAccountDirEnv = "WFSH_K8S_SERVICEACCOUNT_DIR"

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// client is the API client of one kubeconfig context, with the namespace
// that context defaults to.
type client struct {
	cs        k8s.Interface
	namespace string
	// source says where the configuration came from, for messages.
	source string
}

// clients makes one client per kubeconfig context, on first use, and
// shares it among the calls of a run.
type clients struct {
	mu   sync.Mutex
	byCx map[string]*client
	// make builds a client; tests replace it with a fake clientset.
	make func(kubeContext string) (*client, error)
}

func newClients() *clients {
	return &clients{byCx: map[string]*client{}, make: loadClient}
}

func (cs *clients) get(_ context.Context, kubeContext string) (*client, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.byCx[kubeContext]; c != nil {
		return c, nil
	}
	c, err := cs.make(kubeContext)
	if err != nil {
		return nil, err
	}
	cs.byCx[kubeContext] = c
	return c, nil
}

// loadClient reads the configuration as kubectl does: $KUBECONFIG, else
// ~/.kube/config, else the in-cluster configuration of a pod.
func loadClient(kubeContext string) (*client, error) {
	cfg, ns, source, err := loadConfig(kubeContext)
	if err != nil {
		return nil, err
	}
	// client-go's default of 5 requests a second (burst 10) would make the
	// Jobs of a mapped task wait on each other; the API server has its own
	// flow control.
	cfg.QPS, cfg.Burst = 200, 400
	cfg.UserAgent = "wfsh-plugin-kubernetes/" + Version
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client (%s): %v", source, err)
	}
	if ns == "" {
		ns = "default"
	}
	return &client{cs: cs, namespace: ns, source: source}, nil
}

func loadConfig(kubeContext string) (*rest.Config, string, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if !hasKubeconfig(rules) {
		if kubeContext != "" {
			return nil, "", "", fmt.Errorf("kube_context %q: no kubeconfig to find it in (set KUBECONFIG or create ~/.kube/config)", kubeContext)
		}
		return inCluster()
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	source := "kubeconfig " + strings.Join(existing(rules.GetLoadingPrecedence()), string(filepath.ListSeparator))
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %v", source, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %v", source, err)
	}
	if kubeContext != "" {
		source += " (context " + kubeContext + ")"
	}
	return cfg, ns, source, nil
}

func hasKubeconfig(rules *clientcmd.ClientConfigLoadingRules) bool {
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" {
		return true
	}
	return len(existing(rules.GetLoadingPrecedence())) > 0
}

func existing(paths []string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// inCluster is client-go's in-cluster configuration, read from
// $WFSH_K8S_SERVICEACCOUNT_DIR when set: the API server from
// KUBERNETES_SERVICE_HOST and _PORT, the service account's token (re-read
// as the kubelet rotates it), its CA and its namespace.
func inCluster() (*rest.Config, string, string, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, "", "", errors.New("no Kubernetes configuration: set KUBECONFIG, create ~/.kube/config, or run in a pod of the cluster")
	}
	dir := os.Getenv(ServiceAccountDirEnv)
	if dir == "" {
		dir = serviceAccountDir
	}
	token := filepath.Join(dir, "token")
	if _, err := os.Stat(token); err != nil {
		return nil, "", "", fmt.Errorf("in-cluster configuration: the service account token: %v (does the pod mount its service account token?)", err)
	}
	ns, _ := os.ReadFile(filepath.Join(dir, "namespace"))
	cfg := &rest.Config{
		Host:            "https://" + net.JoinHostPort(host, port),
		BearerTokenFile: token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "ca.crt")},
	}
	return cfg, strings.TrimSpace(string(ns)), "in-cluster configuration", nil
}
