# make test: the whole suite, as CI runs it (installs missing test packages when root).
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build test vet fmt-check unit fuzz bench demo

all: build

build:
	$(GO) build -o bin/conndiag ./cmd/conndiag

test: fmt-check vet
	./scripts/test-deps.sh
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

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
