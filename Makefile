# Fluoro — the two commands a new user needs are `make run` and `make test`.

GO        ?= go
BIN       := bin/fluoro
DATA      ?= fluoro-data
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/fluoro-dev/fluoro/internal/version.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
PYTHON    ?= python3
VENV      := .venv
# watch()'s real-torch tests run on Debian's CPU PyTorch (apt: python3-torch), which
# only /usr/bin/python3 sees: a second venv made from it, with the system packages.
TORCH_PYTHON ?= /usr/bin/python3
VENV_TORCH := .venv-torch
FUZZTIME  ?= 10s

WEB       := web
WEBDIST   := internal/web/dist

.PHONY: all build build-go web web-deps run test test-go test-web test-web-e2e test-python test-python-torch check check-python fmt fuzz bench-ingest bench-history bench-runs bench-smoke bench-stress bench-web clean bench bench-peers-smoke

all: build

## build: bundle the web UI (when npm is here) and compile bin/fluoro with it embedded (pure Go, no cgo)
build: web build-go

build-go:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/fluoro

## web: bundle web/ with Vite and copy it into internal/web/dist for go:embed
## (without npm the binary embeds a page saying how to build the UI)
web:
	@if ! command -v npm >/dev/null 2>&1; then echo "npm not found: building without the web UI (install Node 20+ and rerun make build)"; exit 0; fi; \
	$(MAKE) --no-print-directory web-deps && cd $(WEB) && npm run --silent build && cd .. && \
	find $(WEBDIST) -mindepth 1 ! -name .gitkeep -delete && cp -R $(WEB)/dist/. $(WEBDIST)/

web-deps: $(WEB)/node_modules/.package-lock.json

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund

## run: build and start Fluoro on its embedded default (SQLite + local files in ./fluoro-data)
run: build
	./$(BIN) server --data $(DATA)

## test: every test: Go unit, conformance, API and end-to-end tests; Python SDK unit and
## end-to-end tests; web lint, types, unit and browser tests
test: test-go test-python test-python-torch test-web test-web-e2e

test-go:
	$(GO) test -count=1 -timeout 20m ./...

# The SDK's test and lint tools live in a virtualenv made from the repo's own
# requirements file (the SDK itself needs nothing beyond the standard library).
$(VENV)/.installed: sdk/python/requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r sdk/python/requirements-test.txt
	touch $@

## test-python: the Python SDK's unit and end-to-end tests (against bin/fluoro, built by the
## fixture), and the benchmark harness's own unit tests (no peers needed)
test-python: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q sdk/python/tests
	$(VENV)/bin/python -m pytest -q bench/peers/tests

$(VENV_TORCH)/.installed: sdk/python/requirements-torch.txt
	$(TORCH_PYTHON) -m venv --system-site-packages $(VENV_TORCH)
	$(VENV_TORCH)/bin/pip install --quiet --disable-pip-version-check -r sdk/python/requirements-torch.txt
	touch $@

## test-python-torch: watch() against real PyTorch and the real server; fails (never skips)
## when torch is missing: install it with `apt-get install python3-torch` (.ci/run does)
test-python-torch: $(VENV_TORCH)/.installed
	FLUORO_TEST_TORCH=1 $(VENV_TORCH)/bin/python -m pytest -q sdk/python/tests/test_watch_torch.py

## test-web: Biome lint, tsc --noEmit and Vitest unit tests of the web UI
test-web: web-deps
	cd $(WEB) && npm test

## test-web-e2e: the UI in headless Chromium (Debian's /usr/bin/chromium) against the real binary
test-web-e2e: build
	cd $(WEB) && FLUORO_BIN=$(CURDIR)/$(BIN) npm run --silent e2e

## check: formatting, vet, staticcheck
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(MAKE) --no-print-directory check-python

check-python: $(VENV)/.installed
	cd sdk/python && ../../$(VENV)/bin/ruff check . && ../../$(VENV)/bin/ruff format --check . && ../../$(VENV)/bin/mypy

fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: run each fuzz target for FUZZTIME (default 10s)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./internal/ingest
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/query

## bench-ingest: durable ingest rate through the HTTP API, from Go writers and from real
## Python SDK processes (see bench/ingest)
bench-ingest: build-go
	$(GO) run ./bench/ingest --fluoro $(BIN)
	python3 bench/ingest/sdk.py --fluoro $(BIN)

## bench-history: W9 bytes/point and W6 chart latency at full size (minutes)
bench-history: build-go
	$(GO) run ./bench/history --fluoro $(BIN)

## bench-runs: W7, the runs table over 10k runs (filter on two config keys, sort by a summary)
bench-runs: build-go
	$(GO) run ./bench/runs --fluoro $(BIN)

## bench-web: W10, the workspace in headless Chromium: 100 runs × 50 panels × 10k steps
## (minutes to seed; WEBBENCH=--small for 10 × 10 × 1k)
bench-web: build
	cd $(WEB) && node bench/w10.mjs --fluoro $(CURDIR)/$(BIN) $(WEBBENCH)

## bench-smoke: every benchmark at a tiny size, to keep them working (CI runs it;
## W10 needs the UI embedded, so this builds it)
bench-smoke: build
	$(GO) run ./bench/ingest --fluoro $(BIN) --points 100000
	python3 bench/ingest/sdk.py --fluoro $(BIN) --procs 2 --steps 5000
	$(GO) run ./bench/runs --fluoro $(BIN) --runs 200 --repeats 5
	$(GO) run ./bench/history --fluoro $(BIN) --w9-steps 20000 --w6-runs 3 --w6-steps 20000 --repeats 3
	$(GO) run ./bench/stress --fluoro $(BIN) --points 200000 --keys 20000
	cd $(WEB) && node bench/w10.mjs --fluoro $(CURDIR)/$(BIN) --small --loads 1

## bench-stress: 10M points in one series and 1M distinct keys in one project (minutes)
bench-stress: build-go
	$(GO) run ./bench/stress --fluoro $(BIN)

clean:
	rm -rf bin test-output $(WEB)/dist $(WEB)/test-output
	find $(WEBDIST) -mindepth 1 ! -name .gitkeep -delete

## bench: Fluoro against wandb, MLflow, Aim, TensorBoard and trackio, every workload at full size
## (hours; creates bench/.venv-peers from PyPI on first use; results in bench/results/)
bench: build-go
	$(PYTHON) bench/peers --size full

## bench-peers-smoke: the side-by-side benchmark at tiny sizes, to keep it working (CI)
bench-peers-smoke: build-go
	$(PYTHON) bench/peers --size smoke
