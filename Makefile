# featurestore: make help lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.bin:/usr/local/go/bin:$(PATH)
export GOBIN := $(CURDIR)/.bin

# Tool versions are pinned so that `make generate` produces the same gen/ on
# every machine.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0
GRPCURL_VERSION            := v1.9.4
# staticcheck 2026.2.2, the newest release that builds with Go 1.26.
STATICCHECK_VERSION        := v0.8.2

BIN      := .bin/featurestore
# PYTHON is Debian's interpreter, which sees the python3-* packages that
# scripts/services.sh python installs (a pyenv or virtualenv python3 on PATH
# would not).
PYTHON   := /usr/bin/python3
# PY_STUBS is where make generate writes the Python client's stubs.
PY_STUBS := clients/python/featurestore_client/_proto
DEMO_SHOP ?= demo-shop
# PG=replica makes `make services` start a streaming replica of the private
# Postgres too.
PG       ?= single
ADDR     ?= 127.0.0.1:50051
# Tests mostly wait on Postgres: eight at a time in each package keep the
# cores busy.
GO_TEST_FLAGS ?= -count=1 -timeout 15m -parallel 8
# BENCH_PKGS hold the Go benchmarks of the hot paths: the kernel, record
# encoding, the stored-row decoder, resume tokens and a warm GetFeatures.
BENCH_PKGS := ./internal/features/ ./internal/protoconv/ ./internal/store/ ./internal/server/

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.bin/buf:
	go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
.bin/protoc-gen-go:
	go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
.bin/protoc-gen-go-grpc:
	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
.bin/grpcurl:
	go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
.bin/staticcheck:
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: tools
tools: .bin/buf .bin/protoc-gen-go .bin/protoc-gen-go-grpc .bin/grpcurl .bin/staticcheck ## install the pinned code generators, grpcurl and staticcheck into .bin/

.PHONY: protoc
protoc: ## make protoc and gRPC's Python plugin available (Debian's, installed when missing)
	@scripts/services.sh protoc

.PHONY: generate
generate: .bin/buf .bin/protoc-gen-go .bin/protoc-gen-go-grpc protoc ## regenerate gen/ and the Python client's stubs from proto/
	buf generate
	@# gRPC's Python plugin imports the messages as the top-level package
	@# featurestore.v1, which lives inside the client's package here.
	sed -i 's/^from featurestore\.v1 import /from . import /' $(PY_STUBS)/featurestore/v1/featurestore_pb2_grpc.py
	touch $(PY_STUBS)/__init__.py $(PY_STUBS)/featurestore/__init__.py $(PY_STUBS)/featurestore/v1/__init__.py

.PHONY: check-generated
check-generated: generate ## fail when gen/ or the Python stubs differ from what make generate produces
	@git diff --exit-code --stat -- gen/ $(PY_STUBS) || { echo "generated code is out of date: run make generate and commit it" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- gen/ $(PY_STUBS))" || { echo "gen/ or $(PY_STUBS) has untracked or stale files: run make generate and commit it" >&2; git status --short -- gen/ $(PY_STUBS) >&2; exit 1; }

.PHONY: lint
lint: .bin/buf .bin/staticcheck ## gofmt, go vet, staticcheck and buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); test -z "$$out" || { echo "gofmt would change:" $$out >&2; exit 1; }
	go vet ./...
	staticcheck ./...
	buf lint

.PHONY: build
build: ## build the featurestore binary into .bin/
	go build -o $(BIN) ./cmd/featurestore

# PREFIX is where make install puts the binary, in $(PREFIX)/bin.
PREFIX ?= /usr/local

.PHONY: install
install: build ## copy the featurestore binary to $(PREFIX)/bin (default /usr/local/bin)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/featurestore

.PHONY: services
services: ## make a Postgres and a Redis available and print DATABASE_URL / REDIS_URL (PG=replica: and a streaming replica, DATABASE_READ_URL)
	@PG='$(PG)' scripts/services.sh

.PHONY: services-stop
services-stop: ## stop the private Postgres and Redis that make services started
	@scripts/services.sh stop

.PHONY: test
test: ## start the services and run every test against them
	@env=$$(scripts/services.sh) && eval "$$env"; mkdir -p .data; set +e; \
	echo "testing against DATABASE_URL=$$DATABASE_URL REDIS_URL=$$REDIS_URL"; \
	go test $(GO_TEST_FLAGS) -v ./... 2>&1 | tee .data/test.log | \
		grep --line-buffered -E '^(--- |ok |FAIL|PASS$$|panic:)|^\s+--- FAIL|^\s+\S+_test\.go:[0-9]+: '; \
	status=$${PIPESTATUS[0]}; \
	if [ "$$status" -ne 0 ]; then echo "tests failed; the full log is .data/test.log" >&2; fi; \
	exit $$status

.PHONY: test-python
test-python: build ## the Python client's tests (Debian's python3 and pytest) against a real server
	@scripts/services.sh python
	@env=$$(scripts/services.sh) && eval "$$env"; \
	FEATURESTORE_BIN=$(CURDIR)/$(BIN) $(PYTHON) -m pytest -p no:cacheprovider -v clients/python/tests

.PHONY: run
run: build .bin/grpcurl ## the demo: services, migrate, seed and compute the demo shop, renew the demo API key, then serve
	@env=$$(scripts/services.sh) && eval "$$env"; \
	$(BIN) migrate; \
	$(BIN) seed-demo --shop $(DEMO_SHOP) --if-empty; \
	$(BIN) compute --shop $(DEMO_SHOP); \
	key=$$($(BIN) keys create --name demo --shops $(DEMO_SHOP) --scopes read,export,compute,ingest --replace | tail -n 1); \
	$(BIN) examples --shop $(DEMO_SHOP) --addr $(ADDR) --grpcurl $(CURDIR)/.bin/grpcurl --key "$$key"; \
	exec $(BIN) serve --addr $(ADDR)

.PHONY: bench
bench: build ## hot-path micro-benchmarks, then end-to-end benchmarks against real services (medians, ratios to each floor)
	@env=$$(scripts/services.sh) && eval "$$env"; BENCH_PKGS="$(BENCH_PKGS)" scripts/bench.sh

.PHONY: bench-go
bench-go: ## only the Go benchmarks of the hot paths (go test -bench), against real services
	@env=$$(scripts/services.sh) && eval "$$env"; go test -run '^$$' -bench . -benchmem -count 1 $(BENCH_PKGS)

.PHONY: clean
clean: ## remove built binaries (keeps .data/; make services-stop stops the servers)
	rm -rf $(BIN)
