# 村图 cuntu: the two commands are `make run` and `make test`; everything else serves them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
RELEASE_BIN := target/release/cuntu
DEBUG_BIN := target/debug/cuntu
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/package.json

.PHONY: help run test deps web build build-debug lint unit e2e bench-grids bench-route county bench-exposure bench-tiles ogc-clients fuzz-api clean-db stop-db clean

help:
	@echo "make run       install what is missing, build, start PostGIS, load the demo, serve http://127.0.0.1:8080"
	@echo "make test      the same set-up, then every test: lint, unit, PostGIS integration, HTTP, browser"
	@echo "make clean-db  stop the private PostGIS cluster and delete its data (.cuntu/pg)"
	@echo "make stop-db   stop the private PostGIS cluster, keeping its data"
	@echo "make bench-grids  grid proposals vs PySAL spopt max-p on the demo villages and a generated one"
	@echo "make bench-route  visit routes vs VROOM and a proven optimum (OR-Tools) on the demo roads and a generated county"
	@echo "make bench-exposure  households exposed to every hazard of a generated county: R-tree vs PostGIS"
	@echo "make fuzz-api  Schemathesis (PyPI, in .cuntu/schemathesis-venv) against a test server's OpenAPI document: no 5xx"
	@echo "make bench-tiles  county tiles vs Martin 1.14.0 (wrk, cold/warm), stale tiles, memory, locate vs PostGIS"

## Debian packages and node modules the project needs; installs only what is missing.
deps:
	@scripts/deps.sh

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

build: deps web
	$(CARGO) build --release --locked -p cuntu

build-debug: deps web
	$(CARGO) build --locked -p cuntu

## Serve the demo township. DATABASE_URL=postgres://... uses that PostGIS instead of the private cluster.
run: build
	@if [ -z "$$DATABASE_URL" ]; then $(RELEASE_BIN) db up >/dev/null; fi
	$(RELEASE_BIN) demo load --data data
	@$(RELEASE_BIN) demo users
	$(RELEASE_BIN) serve

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## The standard clients tests/ogc.rs drives: GDAL (deps) and OWSLib in .cuntu/ogc-venv.
ogc-clients:
	@scripts/ogc-clients.sh >/dev/null

unit: ogc-clients
	$(CARGO) test --locked --workspace

e2e: build-debug
	scripts/e2e.sh $(DEBUG_BIN)

test: deps web lint unit e2e

## Schemathesis against a throwaway server's /api/openapi.json (about 2 minutes; needs PyPI once).
## CUNTU_SCHEMATHESIS_EXAMPLES sets the examples per operation (default 20).
fuzz-api: deps
	$(CARGO) test --locked -p cuntu-server --test schemathesis -- --ignored --nocapture

## The anchors of the benchmarks (PySAL spopt; pyvroom and OR-Tools) in a venv under the ignored .cuntu folder.
BENCH_VENV := .cuntu/bench-venv
$(BENCH_VENV)/bin/python:
	@dpkg -s python3-venv >/dev/null 2>&1 || apt-get install -y python3-venv
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet spopt==0.7.0 pyvroom ortools

## ANCHOR_TIMEOUT bounds max-p per village (it takes minutes to hours); BENCH_ARGS adds flags.
ANCHOR_TIMEOUT ?= 300
bench-grids: build $(BENCH_VENV)/bin/python
	@if [ -z "$$DATABASE_URL" ]; then $(RELEASE_BIN) db up >/dev/null; fi
	$(RELEASE_BIN) demo load --data data
	RUST_LOG=warn,sqlx=error $(RELEASE_BIN) bench grids --python $(BENCH_VENV)/bin/python --anchor-timeout $(ANCHOR_TIMEOUT) $(BENCH_ARGS)

## BENCH_ARGS adds flags, e.g. BENCH_ARGS="--instances 40 --seed 7".
bench-route: build $(BENCH_VENV)/bin/python
	@$(BENCH_VENV)/bin/python -c "import vroom, ortools" 2>/dev/null || $(BENCH_VENV)/bin/pip install --quiet pyvroom ortools
	@if [ -z "$$DATABASE_URL" ]; then $(RELEASE_BIN) db up >/dev/null; fi
	$(RELEASE_BIN) demo load --data data
	RUST_LOG=warn,sqlx=error $(RELEASE_BIN) bench route --python $(BENCH_VENV)/bin/python $(BENCH_ARGS)

## The county (`cuntu gen county`: the demo replicated to about 150,000 households) lives in a
## database of its own, cuntu_county, in the private cluster (or COUNTY_URL), never in the demo's.
COUNTY_URL ?= postgres://postgres@127.0.0.1:54329/cuntu_county
county: build
	@if [ -z "$$DATABASE_URL" ]; then $(RELEASE_BIN) db up >/dev/null; fi
	@DATABASE_URL='$(COUNTY_URL)' $(RELEASE_BIN) db create >/dev/null
	DATABASE_URL='$(COUNTY_URL)' $(RELEASE_BIN) demo load --data data
	DATABASE_URL='$(COUNTY_URL)' RUST_LOG=warn,sqlx=error $(RELEASE_BIN) gen county

bench-exposure: county
	DATABASE_URL='$(COUNTY_URL)' RUST_LOG=warn,sqlx=error $(RELEASE_BIN) bench exposure $(BENCH_ARGS)

## Martin 1.14.0, the reference tile server, built once into the ignored .cuntu folder (~13 min).
MARTIN := .cuntu/martin/bin/martin
$(MARTIN):
	$(CARGO) install martin --version 1.14.0 --locked --no-default-features --features postgres --root .cuntu/martin

## Our tiles against Martin's on the county (wrk at 1, 8, 64 connections, cold and warm), stale
## tiles after edits, memory, /api/locate against PostGIS. BENCH_ARGS adds flags (--seconds 20).
bench-tiles: county $(MARTIN)
	@command -v wrk >/dev/null || apt-get install -y wrk
	DATABASE_URL='$(COUNTY_URL)' RUST_LOG=warn,sqlx=error $(RELEASE_BIN) bench tiles --martin $(MARTIN) $(BENCH_ARGS)

stop-db:
	@if [ -x $(DEBUG_BIN) ]; then $(DEBUG_BIN) db down; elif [ -x $(RELEASE_BIN) ]; then $(RELEASE_BIN) db down; fi

clean-db:
	@if [ -x $(RELEASE_BIN) ]; then $(RELEASE_BIN) db reset; elif [ -x $(DEBUG_BIN) ]; then $(DEBUG_BIN) db reset; \
	else echo "no cuntu binary built; nothing to reset"; fi

clean: clean-db
	$(CARGO) clean
	rm -rf web/dist web/node_modules tests/e2e/node_modules
