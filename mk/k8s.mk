# The Kubernetes tier: a real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) built from Go modules once
# into the user's cache dir, started on 127.0.0.1 for the @kubernetes
# integration tests and always stopped by PID. See docs/kubernetes.md.

K8S_SCRIPTS := scripts/k8s

.PHONY: k8s-bins test-k8s

## k8s-bins: build the control plane into the cache dir (once: 12-15 min on a free 2-core machine)
k8s-bins:
	@$(K8S_SCRIPTS)/build.sh

## test-k8s: the @kubernetes integration tests, the kubernetes pool's and the
## Helm chart's (deploy/helm), against a local control plane
## (and the BigQuery emulator, for the BigQuery step of flows/k8s_etl.star)
test-k8s: k8s-bins gcp-emulators
	$(call BUILD_WFSH,$(BIN))
	$(call BUILD_WFSH_FULL,$(BIN))
	$(GOBUILD) -o $(BIN)/ ./cmd/wfsh-plugin-kubernetes ./cmd/wfsh-plugin-gcp ./cmd/wfsh-plugin-notify ./cmd/wfsh-worker-kubernetes
	# -p 1: one package at a time; plugins/kubernetes restarts the API
	# server (its restart tests), which the pool's tests beside it would
	# see as connections refused.
	GO="$(GO)" scripts/gcp/with-emulators.sh \
	$(K8S_SCRIPTS)/controlplane.sh run -- \
		env WFSH_BIN_DIR=$(abspath $(BIN)) \
		$(GO) test -race -count=1 -p 1 -tags k8s_integration -timeout 20m ./plugins/kubernetes/... ./k8spool/... ./deploy/helm/...
	# the image test on the five real executables (make image), without
	# -race: gzip of 230 MB under the race detector takes minutes
	WFSH_BIN_DIR=$(abspath $(BIN)) $(GO) test -count=1 -timeout 10m ./scripts/image/

TEST_TIERS += test-k8s
TIER_SERVERS += k8s-bins

## bench-k8s: run_namespaced_job's latencies and costs, 20 Jobs each, against
## a local control plane (docs/performance.md)
.PHONY: bench-k8s
bench-k8s: k8s-bins
	$(call BUILD_WFSH,$(BIN))
	$(call BUILD_WFSH_FULL,$(BIN))
	$(GOBUILD) -o $(BIN)/ ./cmd/wfsh-plugin-kubernetes
	$(K8S_SCRIPTS)/controlplane.sh run -- \
		env WFSH_BIN_DIR=$(abspath $(BIN)) \
		$(GO) test -count=1 -tags k8s_integration -run='^$$' -bench=. -benchtime=1x ./plugins/kubernetes/
