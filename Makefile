# AgentTrail: the two commands the README starts with, and a few more.
.PHONY: help deps build release test serve bench fuzz fuzz-ci tsan asan clean

SWIFT ?= swift
# CI fails on any compiler warning, as swift-nio's does.
SWIFTFLAGS ?= -Xswiftc -warnings-as-errors
# Seconds each fuzz harness runs in `make fuzz` (CI: `make fuzz-ci`, 30 s each).
FUZZ_SECONDS ?= 30

help:
	@echo "make serve     build and start a collector on 127.0.0.1:7411 (data in ./data)"
	@echo "make test      every test: Swift, the Python reference codec, then make fuzz-ci"
	@echo "make fuzz      each libFuzzer harness (Tests/Fuzz) for FUZZ_SECONDS (default 30); FUZZ_RUNS=N bounds inputs"
	@echo "make fuzz-ci   each harness for 30 s (part of make test)"
	@echo "make tsan      the server tests under ThreadSanitizer (scratch path .build-tsan)"
	@echo "make asan      the Swift tests under AddressSanitizer (scratch path .build-asan)"
	@echo "make release   the trail command, optimised: .build/release/trail"
	@echo "make bench     the ingest benchmark (bench/run.sh)"

# C libraries from Debian's -dev packages (root on a fresh machine), the zstd tool (the segment
# tests and the reference reader run `zstd -d`), and the Python package's one dependency
# (protocol/python: the reference codec and the client).
deps:
	@if ! dpkg -s libsodium-dev liblmdb-dev libzstd-dev zstd >/dev/null 2>&1; then \
		apt-get update && apt-get install -y libsodium-dev liblmdb-dev libzstd-dev zstd; \
	fi
	@python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography

build: deps
	$(SWIFT) build --build-tests $(SWIFTFLAGS)

release: deps
	$(SWIFT) build -c release --product trail

# Every test: Swift unit and integration tests (real LMDB, real TCP on 127.0.0.1, real
# libsodium, kill -9 durability), then the independent Python codec against the vectors,
# then the Python client against collectors it starts (.build/debug/trail, or TRAIL_BIN).
test: build
	$(SWIFT) test --skip-build $(SWIFTFLAGS)
	python3 protocol/reference/check_vectors.py
	python3 -m unittest discover -s protocol/python/tests
	$(MAKE) fuzz-ci

# libFuzzer harnesses over every decoder that takes outside bytes (Tests/Fuzz/fuzz.sh): TrailCore
# is built with -sanitize=fuzzer,address into .build-fuzz/, corpora are seeded from protocol/vectors.
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Tests/Fuzz/fuzz.sh run

fuzz-ci: deps
	FUZZ_SECONDS=30 bash Tests/Fuzz/fuzz.sh run

# The server tests (TrailServerTests: the collector in process, real TCP, `trail` subprocesses
# built with the same sanitizer) under ThreadSanitizer, in their own scratch path.
tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	TSAN_OPTIONS="second_deadlock_stack=1 $(TSAN_OPTIONS)" \
		$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --filter TrailServerTests

# Every Swift test under AddressSanitizer (leaks are not checked: see README, Tests).
asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS="detect_leaks=0 $(ASAN_OPTIONS)" \
		$(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan

# A single collector node with its data in ./data, on 127.0.0.1:7411.
serve: release
	.build/release/trail serve --data ./data --listen 127.0.0.1:7411

bench: release
	bash bench/run.sh

clean:
	rm -rf .build .build-fuzz .build-tsan .build-asan data
