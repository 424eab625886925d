#!/usr/bin/env bash
# Runs a command with fake-gcs-server and the BigQuery emulator listening on
# 127.0.0.1 (free ports), then stops both by PID however the command ends.
# The emulators are built first if the cache lacks them
# (build-emulators.sh). The command sees:
#
#   STORAGE_EMULATOR_HOST=127.0.0.1:PORT    fake-gcs-server (in-memory)
#   BIGQUERY_EMULATOR_HOST=127.0.0.1:PORT   the BigQuery emulator, project $WFSH_BQ_PROJECT,
#                                           reading gs:// URIs from fake-gcs-server
#   WFSH_BQ_PROJECT=test-project            (also GOOGLE_CLOUD_PROJECT, the default project)
#
# Usage: with-emulators.sh COMMAND [ARG...]
# e.g.   scripts/gcp/with-emulators.sh go test -tags gcp_integration ./plugins/gcp/
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
"$here/build-emulators.sh"

FAKE_GCS_VERSION=${FAKE_GCS_VERSION:-v1.56.1}
BQ_EMULATOR_VERSION=${BQ_EMULATOR_VERSION:-v0.6.6}
WFSH_CACHE=${WFSH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wfsh}
fake_gcs="$WFSH_CACHE/fake-gcs-server/$FAKE_GCS_VERSION/fake-gcs-server"
bq_emulator="$WFSH_CACHE/bigquery-emulator/$BQ_EMULATOR_VERSION/bigquery-emulator"
export WFSH_BQ_PROJECT=${WFSH_BQ_PROJECT:-test-project}
export GOOGLE_CLOUD_PROJECT=$WFSH_BQ_PROJECT

logs=$(mktemp -d "${TMPDIR:-/tmp}/wfsh-gcp-emulators.XXXXXX")
pids=()

log() { echo "with-emulators: $*" >&2; }

# stop ends every server started here, by PID: TERM, then KILL after 5 s.
stop() {
	local pid i
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid did not stop on TERM: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$logs"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_free tells whether nothing listens on 127.0.0.1:$1 (read from
# /proc/net/tcp, so no tool is needed).
port_free() {
	local hex
	hex=$(printf '%04X' "$1")
	! grep -qi ":$hex [0-9A-F]*:[0-9A-F]* 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if port_free "$p"; then echo "$p"; return; fi
	done
}

# wait_ready waits until something accepts connections on 127.0.0.1:$2, or
# the process $1 died, for at most $3 seconds.
wait_ready() {
	local pid=$1 port=$2 limit=$3 i
	for i in $(seq $((limit * 10))); do
		if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

# start NAME LIMIT PORTVAR CMD...: starts a server on a free port (tried
# up to 5 times: a port may be taken between the check and the bind). CMD
# may use $PORT and $PORT2 (a second free port).
start() {
	local name=$1 limit=$2 try pid
	shift 2
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		PORT2=$(free_port)
		local argv=()
		local a
		for a in "$@"; do
			a=${a//@PORT2@/$PORT2}
			argv+=("${a//@PORT@/$PORT}")
		done
		"${argv[@]}" >"$logs/$name.log" 2>&1 &
		pid=$!
		if wait_ready "$pid" "$PORT" "$limit"; then
			pids+=("$pid")
			return 0
		fi
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		log "$name did not start on port $PORT (try $try); its log:"
		tail -20 "$logs/$name.log" >&2 || true
	done
	log "giving up on $name"
	exit 1
}

start fake-gcs-server 30 "$fake_gcs" -scheme http -host 127.0.0.1 -port @PORT@ \
	-backend memory -public-host 127.0.0.1:@PORT@ -log-level warn
export STORAGE_EMULATOR_HOST=127.0.0.1:$PORT

STORAGE_EMULATOR_HOST=http://$STORAGE_EMULATOR_HOST start bigquery-emulator 60 "$bq_emulator" \
	--project="$WFSH_BQ_PROJECT" --host=127.0.0.1 --port=@PORT@ --grpc-port=@PORT2@ --log-level=warn
export BIGQUERY_EMULATOR_HOST=127.0.0.1:$PORT

log "fake-gcs-server on $STORAGE_EMULATOR_HOST, BigQuery emulator on $BIGQUERY_EMULATOR_HOST (pids ${pids[*]})"
status=0
"$@" || status=$?
if [ "$status" -ne 0 ]; then
	for f in "$logs"/*.log; do
		log "last lines of $(basename "$f"):"
		tail -20 "$f" >&2 || true
	done
fi
exit "$status"
