# wfsh — build, run and test. `make run` runs a flow; `make test` runs every
# test tier. See docs/testing.md.

GO      ?= go
BIN     := bin
WFSH    := $(BIN)/wfsh
FLOW    ?= flows/hello_world.star
FUZZTIME ?= 30s
# Executables are built without cgo: static, so a process starts without the
# dynamic loader (about 1.7 ms less per wfsh process here, docs/performance.md)
# and runs on any Linux. Tests keep cgo: the race detector needs it.
STATIC  := CGO_ENABLED=0
GOBUILD := $(STATIC) $(GO) build

.PHONY: all build install run test test-fast vet fmt-check depcheck bench fuzz proto clean

# wfsh is two executables (docs/architecture.md, "Two executables"): the
# light wfsh, built with the tag wfshlight, which links no server, API
# client or plugin protocol and starts in a third of the time, and
# wfsh-full beside it, which it execs for the commands it does not serve
# (server, worker, API clients, lint, the REPL, flows that load plugins).
# `go install ./cmd/wfsh` alone gives a wfsh that serves everything.
BUILD_WFSH = $(GOBUILD) -tags wfshlight -o $(1)/wfsh ./cmd/wfsh
BUILD_WFSH_FULL = $(GOBUILD) -o $(1)/wfsh-full ./cmd/wfsh
# the other executables: plugins and the kubernetes worker
OTHER_CMDS := $(filter-out ./cmd/wfsh,$(patsubst %/main.go,./%,$(wildcard cmd/*/main.go)))

all: build

## build: wfsh, wfsh-full and every plugin executable of the repository into bin/
build:
	$(call BUILD_WFSH,$(BIN))
	$(call BUILD_WFSH_FULL,$(BIN))
	$(GOBUILD) -o $(BIN)/ $(OTHER_CMDS)

## install: the same into $$GOBIN (plugins must sit next to wfsh or on PATH,
## wfsh-full next to wfsh)
GOBIN_DIR = $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)
install:
	$(call BUILD_WFSH,$(GOBIN_DIR))
	$(call BUILD_WFSH_FULL,$(GOBIN_DIR))
	$(STATIC) $(GO) install $(OTHER_CMDS)

## run: build wfsh, and what the flow file needs, and run a flow
## (FLOW=flows/hello_world.star). A flow that loads nothing needs the light
## wfsh only; one that loads a plugin or a file (which may load one) needs
## wfsh-full, and the plugin executables it names. A newcomer's first
## `make run` builds no server, Kubernetes or Google Cloud client it does
## not use.
RUN_PLUGINS = $(strip $(foreach p,gcp kubernetes notify,$(if $(shell grep -ls '"@$(p)"' $(FLOW) 2>/dev/null),./cmd/wfsh-plugin-$(p))))
RUN_FULL = $(shell grep -lsE '^load\b' $(FLOW) 2>/dev/null)
run:
	$(call BUILD_WFSH,$(BIN))
	$(if $(RUN_FULL),$(call BUILD_WFSH_FULL,$(BIN)))
	$(if $(RUN_PLUGINS),$(GOBUILD) -o $(BIN)/ $(RUN_PLUGINS))
	$(WFSH) run $(FLOW)

## ui-assets: refresh the web UI's vendored third-party files
## (web/static/vendor: htmx, its SSE extension, Graphviz in WebAssembly,
## uPlot) at the versions scripts/ui/assets.sh pins, each checked against
## its pinned sha512, with npm. Not needed to build or test: the files are
## in git and TestVendoredAssets checks them.
.PHONY: ui-assets
ui-assets:
	scripts/ui/assets.sh

## setup: the Debian packages the tests use, installed when missing:
## graphviz (dot, for the SVG/PNG render tests and the web UI's graphs),
## tmux (real-terminal tests), chromium (the web UI's browser test,
## driven by chromedp; no recommends) and postgresql (the run store's PostgreSQL tests: internal/pgtest runs
## its initdb and postgres in throwaway clusters of the tests' own). The
## package's own cluster is not used: if its install started it, it is
## stopped (no system service is left running).
.PHONY: setup
SUDO ?= $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
setup:
	@command -v dot >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y graphviz)
	@command -v tmux >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y tmux)
	@test -x /usr/bin/time || ($(SUDO) apt-get update && $(SUDO) apt-get install -y time)
	@command -v chromium >/dev/null || ($(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ($(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql && \
		{ pg_lsclusters -h 2>/dev/null | while read -r v c port status rest; do \
			[ "$$status" = online ] && $(SUDO) pg_ctlcluster "$$v" "$$c" stop; done; true; })

# Each integration tier (emulators, control plane) lives in mk/<tier>.mk and
# appends its target to TEST_TIERS, and the target that builds its servers
# into the cache dir to TIER_SERVERS; `make test` builds the servers two at
# a time (no-ops once cached; the BigQuery emulator's build is mostly one
# single-threaded compile, so the control plane's build uses the other
# core), then runs the tiers after the unit and CLI tests.
TEST_TIERS :=
TIER_SERVERS :=
-include mk/*.mk

## test: every tier: formatting, vet, the package rule, race-enabled tests,
## then the integration tiers of mk/*.mk. PostgreSQL and Chromium are
## installed by setup: their tests fail, rather than skip, without them.
test: setup fmt-check vet depcheck
	WFSH_REQUIRE_POSTGRES=1 WFSH_REQUIRE_BROWSER=1 $(GO) test -race -count=1 -timeout 30m ./...
	$(if $(TIER_SERVERS),$(MAKE) --no-print-directory -j2 --output-sync=line $(TIER_SERVERS))
	@for t in $(TEST_TIERS); do $(MAKE) --no-print-directory $$t || exit 1; done

## test-fast: the edit-test loop (no race detector, cached)
test-fast:
	$(GO) test ./...

## vet: go vet (also of the light wfsh's build), and deadcode
## (golang.org/x/tools): no function that nothing reaches, from the
## commands or the tests (the integration tiers' tests included)
DEADCODE ?= golang.org/x/tools/cmd/deadcode@v0.52.0
vet:
	$(GO) vet ./...
	$(GO) vet -tags wfshlight ./cmd/wfsh ./store
	@out=$$($(GO) run $(DEADCODE) -test -tags k8s_integration,gcp_integration ./...); \
	if [ -n "$$out" ]; then echo "unreachable code (remove it):"; echo "$$out"; exit 1; fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

## depcheck: the dependency rule, one table of allowed imports per package
## (internal/depcheck; docs/architecture.md)
depcheck:
	$(GO) test -count=1 ./internal/depcheck/

## bench: Go benchmarks, plugin start and call latency, then whole-process
## timings of W0-W4 (W4: a mapped @shell task against the same loop in bash),
## recorded in the run store and with --no-store; the recorder alone;
## wfsh fmt over 1,000 files (files/s); W1-W3 against Dask's threaded
## scheduler (Debian's python3-dask, installed by bench-setup)
bench: build bench-setup
	$(GO) test -run='^$$' -bench=. -benchmem ./runtime/ ./builtins/ ./schedule/
	WFSH_BENCH_BIN=$(abspath $(WFSH)) $(GO) test -run='^$$' -bench='PluginStart|ShellRun' -benchtime=200x ./plugins/host/
	$(GO) test -run='^$$' -bench=PluginCall -benchtime=10000x ./plugins/host/
	$(GO) run ./scripts/benchrun -wfsh $(WFSH) -runs 5
	$(GO) run ./scripts/benchrun -wfsh $(WFSH) -runs 5 -only W0,W1,W2,W3 -compare --no-store
	$(GO) run ./scripts/benchrun -wfsh $(WFSH) -runs 5 -only W1,W2,W3 -dask
	$(GO) test -run='^$$' -bench=. ./store/
	$(GO) test -run='^$$' -bench=DispatchLag -benchtime=200x ./cmd/wfsh/
	$(GO) test -run='^$$' -bench=Fmt1000Files -benchtime=5x ./cmd/wfsh/
	$(GO) test -run='^$$' -bench=APIMillionRuns -benchtime=200x ./server/

## bench-setup: Debian's python3-dask for bench's Dask baseline
.PHONY: bench-setup
bench-setup:
	@/usr/bin/python3 -c 'import dask' 2>/dev/null || ($(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-dask)

## test-server-load: the exactly-once test at full size: 2,000 queued runs
## against 8 workers x 2 slots, on SQLite and on PostgreSQL, with runs/s
## (make test runs it with 200)
.PHONY: test-server-load
test-server-load:
	WFSH_ONCE_RUNS=2000 WFSH_REQUIRE_POSTGRES=1 $(GO) test -count=1 -timeout 30m -v -run 'TestExactlyOnce' ./cmd/wfsh/

## fuzz: fuzz the decorator pre-pass, random flow bodies, wfsh fmt (the
## DAG of generated flows unchanged by formatting; mutated files formatted
## to a fixed point), then bundle unpacking
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseFile -fuzztime=$(FUZZTIME) ./builtins/
	$(GO) test -run='^$$' -fuzz=FuzzFlowBody -fuzztime=$(FUZZTIME) ./builtins/
	$(GO) test -run='^$$' -fuzz=FuzzFormatKeepsDAG -fuzztime=$(FUZZTIME) ./starfmt/
	$(GO) test -run='^$$' -fuzz=FuzzFormatText -fuzztime=$(FUZZTIME) ./starfmt/
	$(GO) test -run='^$$' -fuzz=FuzzUnpack -fuzztime=$(FUZZTIME) -fuzzminimizetime=100x ./bundle/

## proto: regenerate the plugin protocol's Go code (needs protoc,
## protoc-gen-go and protoc-gen-go-grpc; the result is committed)
proto:
	protoc --go_out=. --go_opt=module=github.com/wfsh/wfsh \
		--go-grpc_out=. --go-grpc_opt=module=github.com/wfsh/wfsh \
		plugins/sdk/pluginpb/plugin.proto

clean:
	rm -rf $(BIN)
