# pocket: one Makefile for the whole workspace. Every target loops over the modules
# listed by scripts/modules.sh (each directory with a go.mod).

.PHONY: all test lint bench bench-full proto demo tidy

all: test

## test: services up, generated code fresh, vet + go test -race per module, GOWORK=off builds
test:
	scripts/test.sh

## lint: gofmt, go vet and staticcheck over every module
lint:
	scripts/lint.sh

## bench: every module's benchmarks, short, then the side-by-side suites' short preset (under 10 min)
bench:
	scripts/bench.sh
	cd benchmarks && GOWORK=off go run ./cmd/rpcbench --short --out results/short && GOWORK=off go run ./cmd/charts --dir results/short

## bench-full: the whole side-by-side matrix in separate pinned processes, 3 rounds; results and charts in benchmarks/results
bench-full:
	cd benchmarks && GOWORK=off go run ./cmd/rpcbench --count 3 --duration 5s && GOWORK=off go run ./cmd/charts --dir results

## proto: regenerate protobuf code (protoc, protoc-gen-go, protoc-gen-dora)
proto:
	scripts/proto.sh

## demo: the best demo the workspace has
demo:
	scripts/demo.sh

## tidy: go mod tidy in every module (GOWORK=off, so each go.mod stands on its own)
tidy:
	for m in $$(scripts/modules.sh); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done
