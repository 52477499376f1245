# walnut: `make run` to try it, `make test` to check it.
GO ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_BINARIES = redis-server redis-cli nutcracker memcached gcc

.PHONY: all build run test unit lint fmt bench bench-proxy deps clean proto plugins custom-build custom-protocol

all: build

build:
	$(GO) build -o bin/walnut ./cmd/walnut

# The example plugins, each its own executable (docs/plugins.md).
plugins:
	$(GO) build -o bin/plugins/jump ./examples/plugins/jump
	$(GO) build -o bin/plugins/fnv ./examples/plugins/fnv

# walnut with an extra compiled-in distribution (examples/custom-build).
custom-build:
	$(GO) build -o bin/walnut-custom ./examples/custom-build

# walnut with a third, compiled-in protocol and its backend
# (examples/custom-protocol).
custom-protocol:
	$(GO) build -o bin/walnut-kvline ./examples/custom-protocol
	$(GO) build -o bin/kvline-backend ./examples/custom-protocol/backend

run:
	bash scripts/run.sh

deps:
	bash scripts/deps.sh $(TEST_BINARIES)

# The whole suite, as CI runs it: formatting, vet, staticcheck, then every
# test (unit, fuzz seeds, integration against real servers) with -race.
test: deps lint
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

# Only the tests that need no external server (redis-server, memcached,
# nutcracker): those are skipped, each saying what it needs.
unit:
	@echo "make unit: tests that need no redis-server, memcached or nutcracker; make test runs them all"
	$(GO) test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# All eight scenarios (Redis and memcached) against nutcracker and direct
# access, 3 rounds, about 4 minutes; docs/performance.md has the results.
bench-proxy: build
	../shared/bench/proxy-bench --proxy-cmd '$(CURDIR)/bin/walnut -c {config}' \
	  --proxy-config-template ../shared/bench/walnut.toml.tmpl

clean:
	rm -rf bin

# Regenerate plugins/proto from plugin.proto with the pinned generators,
# so that the committed code is what anyone regenerates.
PROTOC_GEN_GO_VERSION = v1.36.12
PROTOC_GEN_GO_GRPC_VERSION = v1.5.1
GOBIN := $(shell $(GO) env GOPATH)/bin
proto:
	@command -v protoc >/dev/null || { echo "protoc is missing: apt-get install -y protobuf-compiler"; exit 1; }
	@$(GOBIN)/protoc-gen-go --version 2>/dev/null | grep -q '$(PROTOC_GEN_GO_VERSION:v%=%)$$' || \
	  $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@$(GOBIN)/protoc-gen-go-grpc --version 2>/dev/null | grep -q '$(PROTOC_GEN_GO_GRPC_VERSION:v%=%)$$' || \
	  $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd plugins/proto && PATH="$(GOBIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
	@test -z "$$(gofmt -l plugins/proto)" || { echo "generated code is not gofmt-clean:"; gofmt -l plugins/proto; exit 1; }
