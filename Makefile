# Certo — the two commands of the README:
#   make run     install missing packages, build, run the main program
#   make check   install missing packages, build, run every test
# Other targets: build, test, asan, fuzz (long runs), bench, format, fixtures, clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS      ?= 60
FUZZ_LONG_SECONDS ?= 600

# configure DIR OPTIONS: choose the generator only when the build directory is new
# (install-deps has installed ninja by then; an existing cache keeps its generator).
configure = if [ -f $(1)/CMakeCache.txt ]; then cmake -S . -B $(1) $(2); \
	else cmake -S . -B $(1) -G Ninja $(2); fi

.PHONY: all deps build run tour check test asan fuzz-build fuzz-check fuzz format format-check \
        checksrc bench fixtures clean

all: build

deps:
	@scripts/install-deps

build: deps
	@$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The main program: the orchestrator server on its defaults (https://127.0.0.1:8281/vco/api,
# SQLite in the data directory); the first start prints where the admin's credentials are.
# Ctrl-C stops it. More options through ARGS, e.g. make run ARGS="--data /tmp/certo".
run: build
	$(BUILD)/bin/certo server $(ARGS)

# A short end-to-end tour of the offline CLI in a temporary directory.
tour: build
	@scripts/tour.sh $(BUILD)/bin/certo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps
	@$(call configure,$(ASAN_BUILD),-DCMAKE_BUILD_TYPE=Debug -DCERTO_SANITIZE=ON) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

fuzz-build: deps
	@export CC=clang; $(call configure,$(FUZZ_BUILD),-DCMAKE_BUILD_TYPE=Debug -DCERTO_FUZZ=ON \
	    -DCERTO_FUZZ_SECONDS=$(FUZZ_SECONDS)) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz-check: fuzz-build
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

fuzz: deps
	$(MAKE) fuzz-build FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

format-check:
	@scripts/format-check

checksrc:
	@scripts/checksrc

check: deps format-check checksrc test asan fuzz-check
	@echo "make check: all tests passed"

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard "*.c" "*.h")

bench: build
	scripts/install-deps bench
	bench/keystore/run.sh $(BUILD)/bin/certo
	bench/install/run.sh $(BUILD)/bin/certo
	bench/discover/run.sh $(BUILD)/bin/certo
	bench/api/run.sh $(BUILD)/bin/certo
	bench/jobs/run.sh $(BUILD)/bin/certo

fixtures:
	scripts/gen-fixtures.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
