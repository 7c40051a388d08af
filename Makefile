# ingestd: `make run` starts the daemon on embedded defaults, `make test`
# runs every check (installing missing tools first on CI).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/ingestd/ingestd/daemon.Version=$(VERSION)
BIN      := bin/ingestd
PKGS     ?= ./...
GOFILES   = $(shell git ls-files --cached --others --exclude-standard -- '*.go')

.PHONY: all build run test deps vet fmt-check lint bench deb rpm clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ingestd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(dir $(BIN))ingestd-enrich-stt ./cmd/ingestd-enrich-stt

# Embedded defaults: watch ./watch (created), state ./state, API 127.0.0.1:8470.
run: build
	./$(BIN) run

# Idempotent: deps.sh installs only what is missing.
test: deps vet fmt-check
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

deps:
	@scripts/deps.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: vet fmt-check
	@if command -v staticcheck >/dev/null; then staticcheck $(PKGS); else echo "staticcheck not installed (scripts/deps.sh installs it on CI)"; fi

# Throughput next to reference tools run side by side (see bench/*.sh).
bench: build
	@set -e; for s in bench/*.sh; do [ -f "$$s" ] || continue; echo "== $$s"; bash "$$s"; done
	$(GO) test -run '^$$' -bench . -benchtime 3x $(PKGS)

# Packages (owned by the packaging engineer): deb, rpm, package-test.
include packaging/packaging.mk

clean:
	rm -rf bin/
