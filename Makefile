# make test: the whole suite, as CI runs it (installs missing test packages when root).
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build dist test vet cross fmt-check unit fuzz bench demo

all: build

# conndiag version prints these; go install takes them from the module's build info instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
EPOCH   ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DATE    ?= $(shell date -u -d @$(EPOCH) +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
LDFLAGS  = -X github.com/conndiag/conndiag/internal/cli.Version=$(VERSION) \
           -X github.com/conndiag/conndiag/internal/cli.Commit=$(COMMIT) \
           -X github.com/conndiag/conndiag/internal/cli.Date=$(DATE)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/conndiag ./cmd/conndiag

# Release archives for linux, darwin, windows, freebsd on amd64 and arm64, and their SHA-256 sums, in dist/.
dist:
	GO="$(GO)" VERSION="$(VERSION)" COMMIT="$(COMMIT)" DATE="$(DATE)" EPOCH="$(EPOCH)" ./scripts/dist.sh

test: fmt-check vet cross
	./scripts/test-deps.sh
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

# Every system a client runs on must build and vet: a break fails CI.
CROSS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 freebsd/amd64 freebsd/arm64
cross:
	@for p in $(CROSS); do \
	  os=$${p%/*} arch=$${p#*/}; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./cmd/conndiag || { echo "build failed for $$p"; exit 1; }; \
	  GOOS=$$os GOARCH=$$arch $(GO) vet ./... || { echo "vet failed for $$p"; exit 1; }; \
	done

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Unit tests only (no namespaces needed).
unit:
	$(GO) test -count=1 -short ./internal/...

# Run each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

bench:
	./bench/check.sh

demo:
	$(GO) run ./cmd/conndiag demo
