# ingestd: `make run` starts the daemon on embedded defaults, `make test`
# runs every check (installing missing tools first on CI), `make ci-full`
# adds the package test (lintian, debootstrap install/upgrade/purge, the
# systemd boot).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/ingestd/ingestd/daemon.Version=$(VERSION)
BIN      := bin/ingestd
PKGS     ?= ./...
# Tracked and new Go files that exist (a file deleted but not yet committed
# is still in the index).
# third_party/ holds upstream code we patch (its own modules, formatted
# by upstream's rules): not ours to reformat, and outside ./... .
GOFILES   = $(wildcard $(shell git ls-files --cached --others --exclude-standard -- '*.go' ':!:third_party/*'))
# The test-data generators (testdata/<area>/*.go, imported by tests): the go
# tool's ./... skips directories named testdata, so vet and staticcheck name
# them explicitly. Only compilable generator packages belong there.
GENPKGS   = $(shell find testdata -name '*.go' -printf './%h\n' | sort -u)
LOCAL    := github.com/ingestd/ingestd
# Build tools (staticcheck, goimports, nfpm) are pinned in tools/go.mod, their
# own module, out of the daemon's graph. `go -C tools tool -n NAME` builds
# one (into the build cache) and prints its path: run it from the root.
TOOL      = $(GO) -C tools tool -n

.PHONY: all build run test ci-full deps vet fmt-check imports-check imports tidy-check staticcheck lint bench deb rpm clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ingestd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(dir $(BIN))ingestd-enrich-stt ./cmd/ingestd-enrich-stt

# Embedded defaults: watch ./watch (created), state ./state, API 127.0.0.1:8470.
run: build
	./$(BIN) run

# Idempotent: deps.sh installs only what is missing. The package test
# (packaging/test.sh) is not part of it: `make ci-full`.
test: deps tidy-check vet fmt-check imports-check staticcheck
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) -C third_party/badger vet ./table
	$(GO) -C third_party/badger test -race -count=1 ./table
	$(GO) -C third_party/xxh3 vet .
	# No -race: the package has no goroutines, and its exhaustive
	# compatibility tests take over 10 minutes under the race detector.
	$(GO) -C third_party/xxh3 test -count=1 .

# Everything CI can run: make test, then the package test (needs root; with
# CI=true it installs lintian, rpm, debootstrap, systemd-container).
ci-full:
	$(MAKE) test
	$(MAKE) package-test

deps:
	@scripts/deps.sh

vet:
	$(GO) vet $(PKGS) $(GENPKGS)

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Imports in three groups: standard library, others, then this module's.
imports-check:
	@gi=$$($(TOOL) goimports) || exit 1; out=$$($$gi -local $(LOCAL) -l $(GOFILES)); \
	if [ -n "$$out" ]; then echo "goimports -local $(LOCAL) needed (make imports FILES=...):"; echo "$$out"; exit 1; fi

# Rewrites FILES (default: every Go file) with goimports -local.
imports:
	@gi=$$($(TOOL) goimports) || exit 1; $$gi -local $(LOCAL) -w $(or $(FILES),$(GOFILES))

# go.mod and go.sum are exactly what `go mod tidy` makes, for the daemon's
# module and the tools' module.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum: run go mod tidy"; exit 1; }
	@$(GO) -C tools mod tidy -diff || { echo "tools/go.mod: run (cd tools && go mod tidy)"; exit 1; }
	@$(GO) -C third_party/badger mod tidy -diff || { echo "third_party/badger/go.mod: run go mod tidy there"; exit 1; }
	@$(GO) -C third_party/xxh3 mod tidy -diff || { echo "third_party/xxh3/go.mod: run go mod tidy there"; exit 1; }

staticcheck:
	@sc=$$($(TOOL) staticcheck) || exit 1; $$sc $(PKGS) $(GENPKGS)

lint: vet fmt-check imports-check staticcheck

# Throughput next to reference tools run side by side (see bench/*.sh).
bench: build
	@set -e; for s in bench/*.sh; do [ -f "$$s" ] || continue; echo "== $$s"; bash "$$s"; done
	$(GO) test -run '^$$' -bench . -benchtime 3x $(PKGS)

# Packages (owned by the packaging engineer): deb, rpm, package-test.
include packaging/packaging.mk

clean:
	rm -rf bin/
