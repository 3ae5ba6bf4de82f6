# Logdeck's build, run and test entry points. Every target installs what it
# needs first (scripts/bootstrap.sh), so each works on a fresh machine.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Project-local tools (wasm-opt, sass) come first, then cargo-installed ones.
export PATH := $(CURDIR)/.tools/npm/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

CONFIG ?= demo/logdeck.toml
WASM_TARGET := wasm32-unknown-unknown

# Marks every process a test run starts (children inherit it), so the run
# can check at its end that none is left: scripts/leftovers.py.
export TESTRUN_LOGDECK ?= $(shell od -An -N8 -tx8 /dev/urandom | tr -d ' ')

.PHONY: help bootstrap build run dist dist-test test test-steps test-under-load fmt-check lint unit e2e fmt clean fuzz bench bench-smoke soak soak-smoke bench-browser

help:
	@echo "make run    build the release site and serve it with $(CONFIG)"
	@echo "make test   every check: format, lints, unit and integration tests, browser tests"
	@echo "make test-under-load  make test twice while two busy loops hold both cores"
	@echo "make build  build the release site and server without starting it"
	@echo "make dist   the release archive: dist/logdeck-<version>-x86_64-linux.tar.gz"
	@echo "make fmt    format the code"
	@echo "make bench  measure Logdeck against its peers; writes bench/RESULTS.md (~24 min)"
	@echo "make soak   10 minutes at 10 000 lines/s with 21 clients; writes bench/SOAK.md"
	@echo "make fuzz   run each fuzz target for FUZZ_SECONDS (default 60)"
	@echo "make bench-browser  the viewer in Chromium at 10 000 lines/s; writes bench/results-full/browser.json (~2 min)"

bootstrap:
	scripts/bootstrap.sh

# --precompress: cargo-leptos builds the site first, writes brotli and gzip
# copies of its files, then builds the server, which embeds them all
# (server/build.rs): target/release/logdeck needs no other file.
build: bootstrap
	cargo leptos build --release --precompress

run: build
	./target/release/logdeck --config $(CONFIG)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DIST_NAME := logdeck-$(VERSION)-x86_64-linux
DIST := dist/$(DIST_NAME).tar.gz

# The release archive: the binary (site inside), the demo config, the
# README, SECURITY.md and a systemd unit.
dist: build
	rm -rf dist/$(DIST_NAME) && mkdir -p dist/$(DIST_NAME)
	cp target/release/logdeck dist/$(DIST_NAME)/
	strip dist/$(DIST_NAME)/logdeck
	cp demo/logdeck.toml dist/$(DIST_NAME)/logdeck.toml
	cp README.md SECURITY.md docs/logdeck.service dist/$(DIST_NAME)/
	tar -C dist -czf $(DIST) $(DIST_NAME)
	rm -rf dist/$(DIST_NAME)
	@echo "$(DIST): $$(du -h $(DIST) | cut -f1)"

# The archive unpacks to a binary that runs alone (server/tests/dist.rs).
dist-test: dist
	DIST_ARCHIVE=$(CURDIR)/$(DIST) cargo test --locked -p server --test dist -- --ignored

# Every check, then (pass or fail) a look for processes the run left
# behind, which fails the run too.
test:
	scripts/bootstrap.sh --test
	status=0; $(MAKE) --no-print-directory test-steps || status=$$?; \
	  scripts/leftovers.py || status=1; exit $$status

test-steps:
	$(MAKE) --no-print-directory fmt-check lint unit
	$(MAKE) --no-print-directory build dist-test e2e bench-smoke soak-smoke

test-under-load:
	scripts/under-load.sh

fmt-check:
	cargo fmt --all --check

# One feature set per crate and target; never --all-features (ssr and
# hydrate must not be built together).
lint:
	cargo clippy --locked -p server -p app -p bench --all-targets -- -D warnings
	cargo clippy --locked -p frontend -p app --target $(WASM_TARGET) -- -D warnings

# The viewer's regex search runs in the browser's engine: its scan is
# tested in Node against testing each row alone.
unit:
	cargo test --locked -p app -p server -p bench
	node --test app/src/search/browser_regex.test.mjs

e2e:
	cd end2end && npx playwright test

# Each fuzz target for FUZZ_SECONDS (default 60), starting from the
# committed corpus (read only: new inputs go to the git-ignored
# fuzz/target/corpus/<target>/); crashes land in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := line_splitter level_detector ansi_parser config_loader ws_query
fuzz:
	scripts/bootstrap.sh --fuzz
	for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/target/corpus/$$target; \
	  cargo +nightly fuzz run $$target $(CURDIR)/fuzz/target/corpus/$$target $(CURDIR)/fuzz/corpus/$$target \
	    -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

fmt:
	cargo fmt --all

# Issue #7: every scenario against Logdeck, the bare limit, frontail and the
# DMB model; installs the peers into .tools/bench first.
bench: build
	scripts/bench.sh

# A few seconds: each scenario, tiny, against Logdeck and the bare limit.
bench-smoke: build
	scripts/bench.sh --smoke

# Issue #6: ten minutes at 10 000 lines/s, 20 clients that must see every
# entry and one slow one; the server's memory must stay flat.
soak: build
	scripts/bench.sh --soak

# The same checks in twenty seconds (part of `make test`).
soak-smoke: build
	scripts/bench.sh --soak-smoke

# Issue #7's browser scenario: the viewer in Chromium at 10 000 lines/s for
# 30 s, 100 000 rows kept: long tasks, JS heap, regex filter time. Needs
# `make build` and `make bench` to have run (it re-renders bench/RESULTS.md
# with the suite's results). BENCH_BROWSER_* set its sizes.
bench-browser: build
	scripts/bench-browser.sh

clean:
	cargo clean
	rm -rf .tools dist end2end/node_modules end2end/test-results end2end/playwright-report
