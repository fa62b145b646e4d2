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
  postgresql postgresql-contrib softhsm2 libp11-kit-dev

.PHONY: all deps configure build test run demo bench bench-net clean

all: build

# Idempotent: installs only when a package is missing (apt-get update first).
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

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

bench: build
	$(BUILD_DIR)/bin/cairn_bench --benchmark_counters_tabular=true
	$(BUILD_DIR)/bin/cairn bench --data-dir $(BUILD_DIR)/bench-data

clean:
	rm -rf $(BUILD_DIR)
