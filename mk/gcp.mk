# @gcp's integration tier: fake-gcs-server and the BigQuery emulator, built
# once into the user's cache dir (scripts/gcp/build-emulators.sh), started on
# 127.0.0.1 by scripts/gcp/test.sh for the `gcp_integration` tests, and
# always stopped by PID. See docs/gcp.md and docs/testing.md.

.PHONY: gcp-emulators

## gcp-emulators: build fake-gcs-server and the BigQuery emulator into
## $${XDG_CACHE_HOME:-$$HOME/.cache}/wfsh (cold: ~30 CPU-minutes, once)
gcp-emulators:
	GO="$(GO)" scripts/gcp/build-emulators.sh
