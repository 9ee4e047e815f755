# pocket: one Makefile for the whole workspace. Every target loops over the modules
# listed by scripts/modules.sh (each directory with a go.mod).

.PHONY: all test lint bench proto demo tidy

all: test

## test: services up, generated code fresh, vet + go test -race per module, GOWORK=off builds
test:
	scripts/test.sh

## lint: gofmt, go vet and staticcheck over every module
lint:
	scripts/lint.sh

## bench: every module's benchmarks, short
bench:
	scripts/bench.sh

## proto: regenerate protobuf code (protoc, protoc-gen-go, protoc-gen-dora)
proto:
	scripts/proto.sh

## demo: the best demo the workspace has
demo:
	scripts/demo.sh

## tidy: go mod tidy in every module (GOWORK=off, so each go.mod stands on its own)
tidy:
	for m in $$(scripts/modules.sh); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done
