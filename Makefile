# Fluoro — the two commands a new user needs are `make run` and `make test`.

GO        ?= go
BIN       := bin/fluoro
DATA      ?= fluoro-data
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/fluoro-dev/fluoro/internal/version.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
PYTHON    ?= python3
VENV      := .venv
FUZZTIME  ?= 10s

.PHONY: all build run test test-go test-python check fmt fuzz bench-ingest clean

all: build

## build: compile bin/fluoro (pure Go, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/fluoro

## run: build and start Fluoro on its embedded default (SQLite + local files in ./fluoro-data)
run: build
	./$(BIN) server --data $(DATA)

## test: every test: Go unit, conformance, API and end-to-end tests
test: test-go

test-go:
	$(GO) test -count=1 -timeout 20m ./...

## check: formatting, vet, staticcheck
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: run each fuzz target for FUZZTIME (default 10s)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./internal/ingest
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/query

## bench-ingest: durable ingest rate through the HTTP API (see bench/ingest)
bench-ingest: build
	$(GO) run ./bench/ingest --fluoro $(BIN)

clean:
	rm -rf bin test-output
