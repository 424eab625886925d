# The Kubernetes tier: a real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) built from Go modules once
# into the user's cache dir. See docs/kubernetes.md.

K8S_SCRIPTS := scripts/k8s

.PHONY: k8s-bins

## k8s-bins: build the control plane into the cache dir (once, ~15 min cold)
k8s-bins:
	@$(K8S_SCRIPTS)/build.sh
