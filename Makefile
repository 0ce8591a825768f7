# The two commands of the README:
#   make run    set everything up, build, run the main job on the default models
#   make test   set everything up, build, check the formatting, run the whole test suite
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
SAMPLE := .deps/samples/astronaut.png

.PHONY: all setup build run demo load test check-format format test-asan fuzz bench clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > $(BUILD).configure.log 2>&1 || { cat $(BUILD).configure.log; exit 1; }
	@cmake --build $(BUILD) -j$(JOBS)

# The main job: the HTTP service on the default models with the SQLite gallery in ./data/
# (Ctrl-C or SIGTERM stops it after the requests in flight). HOST/PORT override the address.
HOST ?= 127.0.0.1
PORT ?= 8080
run: build
	$(BUILD)/facelens serve --host $(HOST) --port $(PORT) --db data/gallery.db

# A quick look without the service: versions, providers, models, and one photo's faces.
demo: build
	$(BUILD)/facelens info
	$(BUILD)/facelens detect --json --draw out/astronaut.png $(SAMPLE)
	@echo "boxes and landmarks drawn in out/astronaut.png"

# Throughput and latency of /v1/embed under load (wrk, loopback only, bounded duration).
load: build
	bash scripts/load_test.sh $(BUILD)/facelens

test: build check-format
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-asan

# The C++ files against .clang-format (skipped, with the reason, where clang-format is missing);
# `make format` applies it.
check-format:
	bash scripts/check_format.sh

format:
	bash scripts/format.sh

# The malformed-input tests (image decoding) and a short pass of every fuzz target under
# AddressSanitizer and UBSan.
test-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFACELENS_ASAN=ON -DFACELENS_BUILD_BENCH=OFF > $(ASAN_BUILD).configure.log 2>&1 || { cat $(ASAN_BUILD).configure.log; exit 1; }
	@cmake --build $(ASAN_BUILD) -j$(JOBS) --target unit_test_image unit_test_jpeg_parallel fuzz_all
	$(ASAN_BUILD)/tests/unit_test_image
	$(ASAN_BUILD)/tests/unit_test_jpeg_parallel
	bash scripts/fuzz.sh --engine standalone --build $(ASAN_BUILD) --no-build --seconds $(FUZZ_SMOKE_SECONDS)

# Every fuzz target for FUZZ_MINUTES minutes under ASan/UBSan: FUZZ_ENGINE=standalone (gcc, the
# mutation driver of fuzz/driver.cpp) or libfuzzer (clang's coverage-guided libFuzzer).
FUZZ_MINUTES ?= 10
FUZZ_ENGINE ?= libfuzzer
FUZZ_SMOKE_SECONDS ?= 25
fuzz: setup
	bash scripts/fuzz.sh --engine $(FUZZ_ENGINE) --minutes $(FUZZ_MINUTES)

bench: build
	$(BUILD)/tools/bench/stage_bench --benchmark_min_time=1

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BUILD).configure.log $(ASAN_BUILD).configure.log
