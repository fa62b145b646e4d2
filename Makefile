# cairn — the two commands a newcomer needs:
#   make run    install dependencies, build, and run cairn on its embedded defaults
#   make test   install dependencies, build, and run every test (ends with CTest's summary)
BUILD_DIR ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
DATA_DIR ?= $(BUILD_DIR)/demo-data
DEV_DATA_DIR ?= $(BUILD_DIR)/dev-data

# Debian packages the build and the tests need.
DEB_PACKAGES := build-essential cmake pkg-config libssl-dev librocksdb-dev libsimdjson-dev \
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev \
  libgtest-dev libgmock-dev libbenchmark-dev uuid-dev \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libcurl4-openssl-dev \
  libpqxx-dev libpq-dev postgresql postgresql-contrib softhsm2 libp11-kit-dev libre2-dev \
  libjemalloc-dev ninja-build lld

# What the sanitizer and fuzz builds add (clang with its sanitizer and libFuzzer runtimes).
SAN_PACKAGES := clang libclang-rt-14-dev
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_SECONDS ?= 60
CLANG := -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
# Ninja for a new build directory (one configured earlier keeps its generator): unlike Make's
# generator it compiles a target's files while the libraries it links are still being built,
# which kept both cores busy for a third more of the build (docs/reliability.md, "CI time").
generator = $(if $(wildcard $(1)/CMakeCache.txt),,-G Ninja)

.PHONY: all deps node-deps esdb-node interop-deps interop san-deps configure build test run demo bench bench-net \
  bench-pg bench-protect bench-subscribe bench-verify bench-esdb clean test-asan test-asan-ci test-tsan asan-configure build-asan fuzz \
  fuzz-ci soak

all: build

# Idempotent: installs only when a package is missing (apt-get update first).
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Node.js and npm for the EventStoreDB client tests (tests/esdb): Debian's nodejs and npm, only
# when the commands are missing (a NodeSource nodejs already bundles npm and conflicts with it).
node-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "installing: nodejs npm"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi

# npm ci (no install scripts) of the package-lock.json in $(1) into $(2), only when that lock
# file changed.
define npm_ci
	@mkdir -p $(2)
	@if ! cmp -s $(1)/package-lock.json $(2)/.installed-lock.json; then \
	  cp $(1)/package.json $(1)/package-lock.json $(2)/ && \
	  (cd $(2) && npm ci --ignore-scripts --no-audit --no-fund) && \
	  cp $(1)/package-lock.json $(2)/.installed-lock.json; \
	fi
endef

# The official Node.js client, pinned by tests/esdb/package-lock.json, installed into the build
# tree; integration_test's EsdbNode* run it.
ESDB_NODE_DIR := $(BUILD_DIR)/esdb-node
esdb-node: node-deps
	$(call npm_ci,tests/esdb,$(ESDB_NODE_DIR))

san-deps: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(SAN_PACKAGES)"

# Independent implementations that the interop tests check cairn's published formats with
# (tests/integration/interop_test.cc, webhooks_test.cc, metrics_test.cc): Go's
# golang.org/x/mod/sumdb/{note,tlog} as Debian packages them, built offline in GOPATH mode into
# the build tree; Python 3 and OpenSSL for docs/tools; the Prometheus Python client's parser for
# /metrics; jose, standardwebhooks and cloudevents from npm, pinned by
# tests/interop/node/package-lock.json, with the test scripts copied beside their node_modules.
INTEROP_PACKAGES := golang-go golang-golang-x-mod-dev python3 python3-prometheus-client openssl
INTEROP_DIR = $(BUILD_DIR)/interop
interop-deps: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(INTEROP_PACKAGES)"

interop: interop-deps node-deps
	@mkdir -p $(INTEROP_DIR)
	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(abspath $(INTEROP_DIR))/go-cache GOPROXY=off GOFLAGS= \
	  go build -o $(INTEROP_DIR)/tlog_interop tests/interop/tlog_interop.go
	$(call npm_ci,tests/interop/node,$(INTEROP_DIR)/node)
	@cp tests/interop/node/*.mjs $(INTEROP_DIR)/node/

configure: deps
	cmake -S . -B $(BUILD_DIR) $(call generator,$(BUILD_DIR)) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build esdb-node interop
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole test suite, built with clang (the
# same build carries libFuzzer's coverage instrumentation, so `make fuzz` reuses it).
ASAN_OPTIONS_TEST := detect_leaks=1:abort_on_error=1:strict_string_checks=1
LSAN_OPTIONS_TEST := suppressions=$(CURDIR)/tests/lsan.supp
UBSAN_OPTIONS_TEST := print_stacktrace=1:halt_on_error=1
asan-configure: san-deps
	cmake -S . -B $(ASAN_DIR) $(call generator,$(ASAN_DIR)) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CLANG) -DCAIRN_OPT_LEVEL=-O1 \
	  -DCAIRN_SANITIZE=address,undefined -DCAIRN_FUZZ=ON

build-asan: asan-configure
	cmake --build $(ASAN_DIR) -j$(JOBS)

test-asan: build-asan
	@$(MAKE) --no-print-directory esdb-node interop BUILD_DIR=$(ASAN_DIR)
	cd $(ASAN_DIR) && ASAN_OPTIONS=$(ASAN_OPTIONS_TEST) LSAN_OPTIONS=$(LSAN_OPTIONS_TEST) UBSAN_OPTIONS=$(UBSAN_OPTIONS_TEST) \
	  ctest --output-on-failure -j$(JOBS) $(ASAN_CTEST_ARGS)

# The CI subset (docs/reliability.md): every unit test and every fuzz corpus under ASan+UBSan;
# the integration tests (real server processes) run under ASan in `make test-asan`, not in CI,
# which already runs them in `make test` and has to stay under 60 minutes.
FUZZ_TARGETS := $(patsubst tests/fuzz/%_fuzz.cc,fuzz_%,$(wildcard tests/fuzz/*_fuzz.cc))
ASAN_CI_TARGETS := cairn $(addsuffix _test,$(notdir $(wildcard tests/unit/*))) $(FUZZ_TARGETS)
# Left to `make test-asan` for CI time: the engine tests' PostgreSQL variants (the PostgreSQL
# backend itself stays in: storage_test's Pg* tests and engine_test's MultiNodeTest.* — two
# nodes on one database — run under ASan/UBSan in CI), and the two exhaustive proof property
# tests (every proof of every tree up to 300 leaves: 44 s each under ASan, 8 s in `make test`;
# the other ProofPropertyTest cases, the fuzz corpora and the RFC 6962 vectors stay in).
ASAN_CI_EXCLUDE := /postgres|^ProofPropertyTest\.(InclusionEverySizeEveryLeaf|ConsistencyEveryPair)$$
test-asan-ci: asan-configure
	cmake --build $(ASAN_DIR) -j$(JOBS) --target $(ASAN_CI_TARGETS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=$(ASAN_OPTIONS_TEST) LSAN_OPTIONS=$(LSAN_OPTIONS_TEST) UBSAN_OPTIONS=$(UBSAN_OPTIONS_TEST) \
	  ctest --output-on-failure -j$(JOBS) -L 'unit|fuzz' -E '$(ASAN_CI_EXCLUDE)'

# ThreadSanitizer over the concurrency tests: the sequencer, subscriptions, the key cache, two
# nodes on one PostgreSQL (the read-ahead thread), reveals on two threads (RevealMany, ParallelFor).
TSAN_TARGETS := engine_test subscribe_test keys_test common_test
TSAN_FILTER := *Concurren*:*Observer*:*Appenders*:*Races*:KeyCache.*:LiveHub*:LiveRing*:GroupTest.*:MultiNodeTest.*:RevealMany*:ParallelFor*
test-tsan: san-deps
	cmake -S . -B $(TSAN_DIR) $(call generator,$(TSAN_DIR)) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CLANG) -DCAIRN_OPT_LEVEL=-O1 \
	  -DCAIRN_SANITIZE=thread
	cmake --build $(TSAN_DIR) -j$(JOBS) --target $(TSAN_TARGETS)
	@set -e; for t in $(TSAN_TARGETS); do \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    $(TSAN_DIR)/bin/$$t --gtest_filter='$(TSAN_FILTER)' --gtest_brief=1; done

# Every libFuzzer target for FUZZ_SECONDS (default 60) from its seed corpus; new inputs go to
# $(ASAN_DIR)/fuzz/<target>/, a crash leaves its input in $(ASAN_DIR)/fuzz/artifacts/ and fails.
fuzz: asan-configure
	cmake --build $(ASAN_DIR) -j$(JOBS) --target $(FUZZ_TARGETS)
	./tests/fuzz/run_all.sh $(ASAN_DIR) $(FUZZ_SECONDS)

# CI: each target for 10 s.
fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

# Soak (not in CI): SOAK_SECONDS (default 600) of mixed load on a server of its own; prints
# throughput, RSS and fds every 10 s and fails if they grow beyond bounds or anything errs.
soak: build
	./bench/soak.sh $(BUILD_DIR)/bin/cairn

# The server on its embedded defaults: TLS on 127.0.0.1:7400, admin HTTP on 127.0.0.1:7401.
# The first run creates the dev set-up in $(DEV_DATA_DIR) (dev CA, admin API key, policy) and the
# client config (~/.config/cairn/client.toml), so `build/bin/cairn append ...` works from
# another terminal. Ctrl-C stops it cleanly.
run: build
	$(BUILD_DIR)/bin/cairn serve --dev --data-dir $(DEV_DATA_DIR)

# The offline demo on a fresh data directory (init, appends, reads, proofs, verify).
demo: build
	./scripts/demo.sh $(BUILD_DIR)/bin/cairn $(DATA_DIR)

# The network benchmark (TLS, JWT, policy over loopback) with the PostgreSQL peer baseline.
bench-net: build
	./bench/net_bench.sh $(BUILD_DIR)/bin/cairn

# The PostgreSQL backend: RocksDB, one node, three nodes on one database, the raw baseline.
bench-pg: build
	./bench/pg_nodes.sh $(BUILD_DIR)/bin/cairn --duration 10

# Field protection end to end: plain and protected servers side by side (issue 4's ratios).
bench-protect: build
	./bench/protect_net_bench.sh $(BUILD_DIR)/bin/cairn --duration 4 --reps 5

# Live subscriptions: 16 subscribers on $all while appends run at 50,000 events/s (issue 5).
bench-subscribe: build
	./bench/subscribe_bench.sh $(BUILD_DIR)/bin/cairn --reps 3

# The verifying consumer's catch-up: `cairn subscribe --verify` beside plain, 100,000 events.
bench-verify: build
	./bench/verify_subscribe_bench.sh $(BUILD_DIR)/bin/cairn --events 100000 --reps 3

# The official EventStoreDB Node.js client beside `cairn bench` on cairn.v1, one server, one run.
bench-esdb: build esdb-node
	./bench/esdb_node.sh $(BUILD_DIR)/bin/cairn --duration 10

bench: build
	$(BUILD_DIR)/bin/cairn_bench --benchmark_counters_tabular=true
	rm -rf $(BUILD_DIR)/bench-data  # every run measures a fresh store of what it appends
	$(BUILD_DIR)/bin/cairn bench --data-dir $(BUILD_DIR)/bench-data

clean:
	rm -rf $(BUILD_DIR)
