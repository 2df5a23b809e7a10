# AgentTrail: the two commands the README starts with, and a few more.
.PHONY: deps build release test serve bench clean

SWIFT ?= swift
# CI fails on any compiler warning, as swift-nio's does.
SWIFTFLAGS ?= -Xswiftc -warnings-as-errors

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

# A single collector node with its data in ./data, on 127.0.0.1:7411.
serve: release
	.build/release/trail serve --data ./data --listen 127.0.0.1:7411

bench: release
	bash bench/run.sh

clean:
	rm -rf .build data
