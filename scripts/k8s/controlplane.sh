#!/usr/bin/env bash
# A local Kubernetes control plane for tests, on 127.0.0.1 only: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, and kwok with one
# fake node that "runs" pods. The binaries come from build.sh (the user's
# cache dir). Every process is started in the background, its PID written
# to DIR/pids/, and stopped by that PID.
#
#   controlplane.sh run [-- CMD ARGS...]  start in a new temporary DIR, run CMD with
#                                         WFSH_K8S_DIR=DIR and KUBECONFIG=DIR/kubeconfig,
#                                         stop (always, on any exit), remove DIR;
#                                         exits with CMD's status
#   controlplane.sh up DIR                start in DIR (kept running; stop with down)
#   controlplane.sh down DIR              stop the processes of DIR
#   controlplane.sh restart-apiserver DIR stop kube-apiserver and start it again
#                                         (the same flags, ports and data)
#
# What the test tier relies on (see docs/kubernetes.md):
#   - kwok completes a Job's running pod at once, or after the duration in
#     its annotation wfsh-test/duration ("2s"); a pod labelled
#     wfsh-test/hold=true keeps running until the label is removed; a pod
#     labelled wfsh-test/fail=true fails with the exit code in its
#     annotation wfsh-test/exit-code (default 1);
#   - a pod's log is DIR/logs/NAMESPACE.log when that file exists when kwok
#     starts (wfsh-stream, wfsh-flowrun), else DIR/logs/default.log (CRI
#     log format: "TIMESTAMP stdout F TEXT" lines).
set -euo pipefail

SCRIPTS=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1090
eval "$("$SCRIPTS/build.sh" -print)"

KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
READY_TIMEOUT=${READY_TIMEOUT:-180}

log() { echo "controlplane: $(date +%H:%M:%S) $*" >&2; }
die() {
	echo "controlplane: $*" >&2
	exit 1
}

# free_port prints a TCP port nobody listens on (from /proc/net/tcp*),
# never one handed out before by this script.
declare -A TAKEN=()
free_port() {
	local p hex
	while :; do
		p=$((20000 + RANDOM % 40000))
		hex=$(printf ':%04X ' "$p")
		[ -n "${TAKEN[$p]:-}" ] && continue
		if ! grep -qi "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			TAKEN[$p]=1
			echo "$p"
			return
		fi
	done
}

need_bins() {
	local b
	for b in "$ETCD_DIR/etcd" "$KUBE_DIR/kube-apiserver" "$KUBE_DIR/kube-controller-manager" \
		"$KUBE_DIR/kube-scheduler" "$KWOK_DIR/kwok"; do
		[ -x "$b" ] || die "missing $b: run 'make k8s-bins' (scripts/k8s/build.sh) first"
	done
}

# --- certificates, keys, tokens, kubeconfig --------------------------------

make_pki() {
	local d=$1/pki
	mkdir -p "$d"
	(
		cd "$d"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj "/CN=wfsh-test-ca" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
			-subj "/CN=kube-apiserver" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out apiserver.crt -days 2 -extfile apiserver.ext 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		openssl rand -hex 24 >admin.token
		echo "$(cat admin.token),wfsh-admin,wfsh-admin,system:masters" >tokens.csv
	)
}

write_kubeconfig() {
	local dir=$1 port=$2
	cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wfsh-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $dir/pki/ca.crt
users:
- name: wfsh-admin
  user:
    token: $(cat "$dir/pki/admin.token")
contexts:
- name: wfsh-test
  context: {cluster: wfsh-test, user: wfsh-admin, namespace: default}
current-context: wfsh-test
EOF
}

# --- kwok's configuration: stages and logs ----------------------------------

write_kwok_config() {
	local dir=$1
	mkdir -p "$dir/logs" "$dir/kwok-home"
	local ts
	ts=$(date -u +%Y-%m-%dT%H:%M:%S)
	printf '%s.000000001Z stdout F wfsh-test pod log line 1\n%s.000000002Z stdout F wfsh-test pod log line 2\n%s.000000003Z stderr F wfsh-test pod log line 3\n' \
		"$ts" "$ts" "$ts" >"$dir/logs/default.log"
	: >"$dir/logs/wfsh-stream.log"
	: >"$dir/logs/wfsh-flowrun.log"
	cat >"$dir/kwok.yaml" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: wfsh-stream}
spec:
  selector: {matchNamespaces: [wfsh-stream]}
  logs: [{logsFile: $dir/logs/wfsh-stream.log, follow: true}]
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: wfsh-flowrun}
spec:
  selector: {matchNamespaces: [wfsh-flowrun]}
  logs: [{logsFile: $dir/logs/wfsh-flowrun.log, follow: true}]
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: default}
spec:
  logs: [{logsFile: $dir/logs/default.log, follow: true}]
EOF
	cat "$SCRIPTS/kwok-stages.yaml" >>"$dir/kwok.yaml"
}

# --- processes ---------------------------------------------------------------

# start NAME CMD...: run CMD in the background, output to DIR/logs/NAME.out,
# PID to DIR/pids/NAME; the command line is kept for a restart.
start() {
	local name=$1
	shift
	mkdir -p "$DIR/pids" "$DIR/cmd"
	printf '%q ' "$@" >"$DIR/cmd/$name"
	# setsid: a Ctrl-C at the terminal reaches the script, which stops
	# everything in order, rather than every process at once
	setsid "$@" >"$DIR/logs/$name.out" 2>&1 </dev/null &
	echo $! >"$DIR/pids/$name"
	disown $!
}

restart() {
	local name=$1
	# shellcheck disable=SC2046
	eval "set -- $(cat "$DIR/cmd/$name")"
	setsid "$@" >>"$DIR/logs/$name.out" 2>&1 </dev/null &
	echo $! >"$DIR/pids/$name"
	disown $!
}

alive() { [ -f "$DIR/pids/$1" ] && kill -0 "$(cat "$DIR/pids/$1")" 2>/dev/null; }

# stop NAME: TERM, then KILL after 5 s (an API server ends its watches
# gracefully for up to a minute; tests do not wait for that).
stop() {
	local name=$1 pid i
	[ -f "$DIR/pids/$name" ] || return 0
	pid=$(cat "$DIR/pids/$name")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$DIR/pids/$name"
}

api() {
	curl -sS --max-time 10 --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$DIR/pki/admin.token")" \
		"$@"
}

# wait_for WHAT CHECK...: run CHECK until it succeeds, at most READY_TIMEOUT s.
wait_for() {
	local what=$1 i
	shift
	for i in $(seq $((READY_TIMEOUT * 5))); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	die "$what not ready after ${READY_TIMEOUT}s; logs in $DIR/logs"
}

apiserver_ready() {
	alive kube-apiserver || die "kube-apiserver exited: $(tail -5 "$DIR/logs/kube-apiserver.out")"
	[ "$(api "https://127.0.0.1:$(cat "$DIR/ports/apiserver")/readyz")" = ok ]
}

node_ready() {
	local n
	n=$(api "https://127.0.0.1:$(cat "$DIR/ports/apiserver")/api/v1/nodes/kwok-node-0") || return 1
	n=$(tr -d ' \t\n' <<<"$n")
	grep -q '"type":"Ready","status":"True"' <<<"$n" && ! grep -q '"taints"' <<<"$n"
}

default_sa() {
	api -f "https://127.0.0.1:$(cat "$DIR/ports/apiserver")/api/v1/namespaces/default/serviceaccounts/default"
}

up() {
	need_bins
	mkdir -p "$DIR/logs" "$DIR/ports"
	local t0=$SECONDS
	make_pki "$DIR"
	local etcd_port etcd_peer api_port kwok_port
	etcd_port=$(free_port)
	etcd_peer=$(free_port)
	api_port=$(free_port)
	kwok_port=$(free_port)
	echo "$api_port" >"$DIR/ports/apiserver"
	echo "$etcd_port" >"$DIR/ports/etcd"
	echo "$kwok_port" >"$DIR/ports/kwok"
	write_kubeconfig "$DIR" "$api_port"
	write_kwok_config "$DIR"

	start etcd "$ETCD_DIR/etcd" --name wfsh-test --data-dir "$DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
		--initial-cluster "wfsh-test=http://127.0.0.1:$etcd_peer" \
		--unsafe-no-fsync --log-level warn
	start kube-apiserver "$KUBE_DIR/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--endpoint-reconciler-type none \
		--tls-cert-file "$DIR/pki/apiserver.crt" --tls-private-key-file "$DIR/pki/apiserver.key" \
		--client-ca-file "$DIR/pki/ca.crt" --token-auth-file "$DIR/pki/tokens.csv" \
		--authorization-mode Node,RBAC \
		--service-account-issuer https://kubernetes.default.svc \
		--service-account-key-file "$DIR/pki/sa.pub" --service-account-signing-key-file "$DIR/pki/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16 \
		--kubelet-preferred-address-types InternalIP \
		--profiling=false --v=1
	wait_for kube-apiserver apiserver_ready
	log "kube-apiserver ready on 127.0.0.1:$api_port after $((SECONDS - t0))s"

	start kube-controller-manager "$KUBE_DIR/kube-controller-manager" \
		--kubeconfig "$DIR/kubeconfig" --secure-port 0 --leader-elect=false \
		--controllers job-controller,node-lifecycle-controller,serviceaccount-controller,serviceaccount-token-controller,garbage-collector-controller,namespace-controller,ttl-after-finished-controller,root-ca-certificate-publisher-controller,pod-garbage-collector-controller \
		--service-account-private-key-file "$DIR/pki/sa.key" --root-ca-file "$DIR/pki/ca.crt" \
		--node-monitor-grace-period 60s --profiling=false --v=1
	start kube-scheduler "$KUBE_DIR/kube-scheduler" \
		--kubeconfig "$DIR/kubeconfig" --secure-port 0 --leader-elect=false --profiling=false --v=1
	HOME="$DIR/kwok-home" start kwok "$KWOK_DIR/kwok" \
		--kubeconfig "$DIR/kubeconfig" -c "$DIR/kwok.yaml" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--node-ip 127.0.0.1 --node-port "$kwok_port" --server-address "127.0.0.1:$kwok_port" \
		--cidr 10.0.0.1/24 --node-lease-duration-seconds 40

	api -f -X POST -H 'Content-Type: application/json' "https://127.0.0.1:$api_port/api/v1/nodes" -d '{
	  "apiVersion": "v1", "kind": "Node",
	  "metadata": {"name": "kwok-node-0",
	    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
	    "labels": {"kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux", "type": "kwok"}}
	}' >/dev/null
	wait_for "node kwok-node-0" node_ready
	wait_for "service account default/default" default_sa
	log "control plane ready in $((SECONDS - t0))s: KUBECONFIG=$DIR/kubeconfig"
}

COMPONENTS=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

down() {
	local c
	for c in "${COMPONENTS[@]}"; do
		stop "$c"
	done
}

restart_apiserver() {
	local t0=$SECONDS
	stop kube-apiserver
	restart kube-apiserver
	wait_for kube-apiserver apiserver_ready
	log "kube-apiserver restarted in $((SECONDS - t0))s"
}

cmd=${1:-}
shift || true
case "$cmd" in
up)
	DIR=${1:?usage: controlplane.sh up DIR}
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	trap 'down' EXIT # a start that fails stops what it started
	up
	trap - EXIT
	;;
down)
	DIR=$(cd "${1:?usage: controlplane.sh down DIR}" && pwd)
	down
	;;
restart-apiserver)
	DIR=$(cd "${1:?usage: controlplane.sh restart-apiserver DIR}" && pwd)
	restart_apiserver
	;;
run)
	[ "${1:-}" = "--" ] && shift
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/wfsh-k8s.XXXXXX")
	status=0
	finish() {
		down
		if [ "$status" -eq 0 ]; then
			rm -rf "$DIR"
		else
			echo "controlplane: logs kept in $DIR/logs" >&2
		fi
	}
	trap finish EXIT
	trap 'status=130; exit 130' INT TERM
	status=1 # until up has succeeded: keep the logs of a failed start
	up
	status=0
	if [ $# -gt 0 ]; then
		WFSH_K8S_DIR=$DIR KUBECONFIG=$DIR/kubeconfig WFSH_K8S_CONTROLPLANE="$SCRIPTS/controlplane.sh" "$@" || status=$?
	fi
	exit "$status"
	;;
*)
	sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
