# @gcp's integration tier: fake-gcs-server and the BigQuery emulator, built
# once into the user's cache dir (scripts/gcp/build-emulators.sh), started on
# 127.0.0.1 at free ports for the `gcp_integration` tests and always stopped
# by PID (scripts/gcp/with-emulators.sh). See docs/gcp.md and docs/testing.md.

.PHONY: gcp-emulators test-gcp bench-gcp
TEST_TIERS += test-gcp
TIER_SERVERS += gcp-emulators

## gcp-emulators: build fake-gcs-server and the BigQuery emulator into
## $${XDG_CACHE_HOME:-$$HOME/.cache}/wfsh (cold: ~30 CPU-minutes, once)
gcp-emulators:
	GO="$(GO)" scripts/gcp/build-emulators.sh

## test-gcp: the @gcp tests against the emulators, the seed's ETL flows
## (flows/gcs_to_bq.star, flows/local_etl.star) end to end with wfsh
test-gcp: gcp-emulators
	GO="$(GO)" scripts/gcp/with-emulators.sh \
		$(GO) test -tags gcp_integration -count=1 -race -run 'Integration' ./plugins/gcp/

## bench-gcp: @gcp's start time, a BigQuery call through the plugin against
## a plain Go program, GCS throughput of a 100 MB object (docs/performance.md)
bench-gcp: gcp-emulators
	$(GO) test -run='^$$' -bench=PluginStart -benchtime=50x ./plugins/gcp/
	GO="$(GO)" scripts/gcp/with-emulators.sh \
		$(GO) test -tags gcp_integration -run='^$$' -bench='BigQuery' -benchtime=30x ./plugins/gcp/
	GO="$(GO)" scripts/gcp/with-emulators.sh \
		$(GO) test -tags gcp_integration -run='^$$' -bench='GCS' -benchtime=3x -timeout=30m ./plugins/gcp/
