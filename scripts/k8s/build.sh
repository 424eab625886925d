#!/usr/bin/env bash
# Build the local Kubernetes control plane the k8s test tier runs, from Go
# modules, once: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok. Only the final binaries are kept, in directories
# keyed by version under the user's cache dir:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/wfsh/k8s/etcd-v3.6.4/etcd
#   ${XDG_CACHE_HOME:-$HOME/.cache}/wfsh/k8s/kubernetes-v1.34.4/kube-{apiserver,controller-manager,scheduler}
#   ${XDG_CACHE_HOME:-$HOME/.cache}/wfsh/k8s/kwok-v0.7.0/kwok
#
# The build uses a temporary GOCACHE and GOPATH (several GB), removed when the
# script ends, however it ends. A component whose directory exists is not
# built again; a build that is interrupted leaves nothing behind. Two runs at
# once wait for each other (flock).
#
# Usage: scripts/k8s/build.sh          build what is missing, print the bin dirs
#        scripts/k8s/build.sh -print   print the dirs only (no build)
set -euo pipefail

ETCD_VERSION=${ETCD_VERSION:-v3.6.4}
KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
KWOK_VERSION=${KWOK_VERSION:-v0.7.0}
GO=${GO:-go}

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/wfsh/k8s"
ETCD_DIR="$CACHE_ROOT/etcd-$ETCD_VERSION"
KUBE_DIR="$CACHE_ROOT/kubernetes-$KUBE_VERSION"
KWOK_DIR="$CACHE_ROOT/kwok-$KWOK_VERSION"

print_dirs() {
	echo "ETCD_DIR=$ETCD_DIR"
	echo "KUBE_DIR=$KUBE_DIR"
	echo "KWOK_DIR=$KWOK_DIR"
}

if [ "${1:-}" = "-print" ]; then
	print_dirs
	exit 0
fi

complete() {
	[ -x "$ETCD_DIR/etcd" ] &&
		[ -x "$KUBE_DIR/kube-apiserver" ] && [ -x "$KUBE_DIR/kube-controller-manager" ] &&
		[ -x "$KUBE_DIR/kube-scheduler" ] && [ -x "$KWOK_DIR/kwok" ]
}

if complete; then
	print_dirs
	exit 0
fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.build.lock"
if ! flock -n 9; then
	echo "k8s build: another build is running; waiting for it ($CACHE_ROOT/.build.lock)" >&2
	flock 9
fi
if complete; then
	print_dirs
	exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wfsh-k8s-build.XXXXXX")
cleanup() {
	# the module cache is read-only by default; -modcacherw below makes it
	# writable, and chmod covers a run that stopped half-way
	chmod -R u+w "$WORK" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GOMODCACHE="$WORK/gopath/pkg/mod"
export GOFLAGS="-modcacherw -buildvcs=false -trimpath" GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
export GO111MODULE=on

log() { echo "k8s build: $(date +%H:%M:%S) $*" >&2; }

# stage builds into a fresh dir, then renames it into place: a half-built
# component never looks complete
stage_dir() {
	local final=$1
	rm -rf "$final.tmp"
	mkdir -p "$final.tmp"
	echo "$final.tmp"
}
publish() {
	local final=$1
	rm -rf "$final"
	mv "$final.tmp" "$final"
}

build_etcd() {
	[ -x "$ETCD_DIR/etcd" ] && return 0
	log "etcd $ETCD_VERSION"
	local mod="$WORK/etcd" out
	out=$(stage_dir "$ETCD_DIR")
	mkdir -p "$mod"
	cat >"$mod/go.mod" <<EOF
module wfsh.local/k8sbuild/etcd

go 1.24
EOF
	cat >"$mod/tools.go" <<'EOF'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
	(cd "$mod" && $GO get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && $GO mod tidy &&
		$GO build -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
	publish "$ETCD_DIR"
}

build_kwok() {
	[ -x "$KWOK_DIR/kwok" ] && return 0
	log "kwok $KWOK_VERSION"
	local out
	out=$(stage_dir "$KWOK_DIR")
	GOBIN="$out" $GO install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	publish "$KWOK_DIR"
}

build_kube() {
	if [ -x "$KUBE_DIR/kube-apiserver" ] && [ -x "$KUBE_DIR/kube-controller-manager" ] &&
		[ -x "$KUBE_DIR/kube-scheduler" ]; then
		return 0
	fi
	log "kubernetes $KUBE_VERSION"
	local mod="$WORK/kube" out gomod staging minor major
	out=$(stage_dir "$KUBE_DIR")
	mkdir -p "$mod"
	gomod=$(cd "$WORK" && GOFLAGS=-modcacherw $GO mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[ -f "$gomod" ] || { echo "k8s build: no go.mod for k8s.io/kubernetes@$KUBE_VERSION" >&2; exit 1; }
	# k8s.io/kubernetes replaces its staging modules with ./staging/src/...;
	# a module that requires it must point each at its published version
	# (v0.MINOR.PATCH for v1.MINOR.PATCH)
	staging="v0.${KUBE_VERSION#v1.}"
	{
		echo "module wfsh.local/k8sbuild/kube"
		echo
		echo "go 1.24"
		echo
		echo "require k8s.io/kubernetes $KUBE_VERSION"
		echo
		sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*$#replace \1 => \1 '"$staging"'#p' "$gomod"
	} >"$mod/go.mod"
	if ! grep -q '^replace k8s.io/api ' "$mod/go.mod"; then
		echo "k8s build: found no staging replace lines in $gomod" >&2
		exit 1
	fi
	cat >"$mod/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
EOF
	minor=${KUBE_VERSION#v1.}
	minor=${minor%%.*}
	major=1
	local ld="-s -w"
	ld="$ld -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
	ld="$ld -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor"
	ld="$ld -X k8s.io/component-base/version.gitTreeState=clean"
	ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
	ld="$ld -X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"
	(cd "$mod" && $GO mod tidy)
	local name
	for name in kube-apiserver kube-controller-manager kube-scheduler; do
		log "  $name"
		(cd "$mod" && $GO build -ldflags "$ld" -o "$out/$name" "k8s.io/kubernetes/cmd/$name")
	done
	publish "$KUBE_DIR"
}

start=$(date +%s)
build_etcd
build_kwok
build_kube
log "done in $(( $(date +%s) - start ))s"
print_dirs
