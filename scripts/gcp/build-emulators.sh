#!/usr/bin/env bash
# Builds the local stand-ins for GCS and BigQuery that `make test-gcp` runs,
# once, into version-keyed directories under the user's cache dir:
#
#   $WFSH_CACHE/fake-gcs-server/<version>/fake-gcs-server
#   $WFSH_CACHE/bigquery-emulator/<version>/bigquery-emulator
#
# with WFSH_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/wfsh. A binary already
# there is reused. The BigQuery emulator is cgo + ZetaSQL (C++): its cold
# build takes ~30 CPU-minutes, ~7 GB of memory at peak and ~2.3 GB of
# temporary disk, and needs clang (installed from Debian when missing). Its
# Go build cache is private to the build and removed afterwards.
#
# Usage: build-emulators.sh [fake-gcs-server|bigquery-emulator]... (default: both)
set -euo pipefail

FAKE_GCS_VERSION=${FAKE_GCS_VERSION:-v1.56.1}
BQ_EMULATOR_VERSION=${BQ_EMULATOR_VERSION:-v0.6.6}
GO=${GO:-go}
WFSH_CACHE=${WFSH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wfsh}

log() { echo "build-emulators: $*" >&2; }

# Temporary build directories, removed however the script ends.
TMPDIRS=()
cleanup() {
	local d
	for d in "${TMPDIRS[@]}"; do
		chmod -R u+w "$d" 2>/dev/null || true
		rm -rf "$d"
	done
}
trap cleanup EXIT

# as_root runs a command as root (sudo when we are not root).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_clang() {
	if command -v clang >/dev/null && command -v clang++ >/dev/null; then return; fi
	log "installing clang from Debian (the BigQuery emulator is C++ underneath)"
	as_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq clang >/dev/null
}

build_fake_gcs() {
	local dir="$WFSH_CACHE/fake-gcs-server/$FAKE_GCS_VERSION"
	local bin="$dir/fake-gcs-server"
	if [ -x "$bin" ]; then log "fake-gcs-server $FAKE_GCS_VERSION: cached at $bin"; return; fi
	mkdir -p "$dir"
	log "fake-gcs-server $FAKE_GCS_VERSION: building into $dir"
	# GOBIN of a temporary dir, then an atomic rename: a half-written
	# binary is never mistaken for a cached one.
	local tmp
	tmp=$(mktemp -d "$dir/.build.XXXXXX")
	TMPDIRS+=("$tmp")
	GOBIN="$tmp" "$GO" install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION"
	mv "$tmp/fake-gcs-server" "$bin"
	log "fake-gcs-server $FAKE_GCS_VERSION: built"
}

build_bq_emulator() {
	local dir="$WFSH_CACHE/bigquery-emulator/$BQ_EMULATOR_VERSION"
	local bin="$dir/bigquery-emulator"
	if [ -x "$bin" ]; then log "bigquery-emulator $BQ_EMULATOR_VERSION: cached at $bin"; return; fi
	mkdir -p "$dir"
	# One build at a time per version: a second caller waits, then finds
	# the binary.
	exec 9>"$dir/.lock"
	flock 9
	if [ -x "$bin" ]; then log "bigquery-emulator $BQ_EMULATOR_VERSION: built by another process"; return; fi
	ensure_clang
	local tmp
	tmp=$(mktemp -d "$dir/.build.XXXXXX")
	TMPDIRS+=("$tmp")
	local mod="github.com/goccy/bigquery-emulator@$BQ_EMULATOR_VERSION"
	local src
	# Outside any module, so that no go.mod or go.sum of ours is touched.
	src=$(cd "$tmp" && "$GO" mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	if [ -z "$src" ] || [ ! -d "$src" ]; then
		log "cannot download $mod from the module proxy"
		exit 1
	fi
	# The module cache is read-only; the build runs in a writable copy.
	cp -R "$src" "$tmp/src"
	chmod -R u+w "$tmp/src"
	log "bigquery-emulator $BQ_EMULATOR_VERSION: building into $dir (cold: ~30 CPU-minutes; log lines only at the end)"
	local start=$SECONDS
	(
		cd "$tmp/src"
		GOCACHE="$tmp/gocache" GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=1 CC=clang CXX=clang++ \
			"$GO" build -trimpath -o "$tmp/bigquery-emulator" ./cmd/bigquery-emulator
	)
	mv "$tmp/bigquery-emulator" "$bin"
	log "bigquery-emulator $BQ_EMULATOR_VERSION: built in $((SECONDS - start)) s"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fake-gcs-server bigquery-emulator)
for t in "${targets[@]}"; do
	case "$t" in
	fake-gcs-server) build_fake_gcs ;;
	bigquery-emulator) build_bq_emulator ;;
	*) log "unknown emulator $t (want fake-gcs-server or bigquery-emulator)"; exit 2 ;;
	esac
done
