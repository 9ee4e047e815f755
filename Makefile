# pocket: one Makefile for the whole workspace. Every target loops over the modules
# listed by scripts/modules.sh (each directory with a go.mod).

.PHONY: all test test-scale lint bench bench-full proto testkit demo tidy release consumer-check

all: test

## test: services up, generated code fresh, vet + go test -race per module, GOWORK=off builds, consumer check
test:
	scripts/test.sh

## test-scale: failover tests: Redis Cluster and Sentinel masters and one of 3 etservers SIGKILLed under load (under 5 min)
test-scale:
	scripts/test-scale.sh

## consumer-check: every published module installed by version from a module proxy, outside the tree
consumer-check:
	scripts/consumer-check.sh

## lint: gofmt, go vet, staticcheck, fresh test kit copies, one version per dependency, tidy go.mod/go.sum
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

## testkit: copy the shared test helpers (scripts/testkit/*.go.tmpl) into <module>/internal/testkit
testkit:
	scripts/testkit.sh

## demo: the best demo the workspace has
demo:
	scripts/demo.sh

## tidy: go mod tidy in every module, bottom-up (GOWORK=off, so each go.mod stands on its own)
tidy:
	scripts/tidy.sh

## release: make release VERSION=vX.Y.Z [MODULES="nap dora"]: bump, tidy, verify, print the tag commands
release:
	scripts/release.sh "$(VERSION)" $(MODULES)
