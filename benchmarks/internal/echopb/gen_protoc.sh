#!/bin/sh
# Regenerates echo.pb.go and echo_grpc.pb.go from echo.proto, and
# ../echodora/echodora_dora.pb.go from ../echodora/echodora.proto (the same service for
# dora, in its own package: the generated names of the two plugins clash). The protoc
# plugins are built from the versions benchmarks/go.mod pins (its tool directives; dora
# through its replace line), with GOWORK=off, so a fresh generation equals the committed
# code whatever plugins are on PATH. Needs protoc 3.21.12 (the version named in the
# committed headers).
set -eu
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOWORK=off go build -o "$bin/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc github.com/seed857a6cbd/pocket/dora/cmd/protoc-gen-dora
protoc \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  echo.proto
# The gRPC stubs are grpc-go's alone: rpcbench's node builds of the other frameworks
# (-tags rpcbench_node,rpcbench_<name>, see ../../cmd/rpcbench/node.go) leave them out.
{ printf '//go:build !rpcbench_node || rpcbench_grpc\n\n'; cat echo_grpc.pb.go; } >"$bin/echo_grpc.pb.go"
mv "$bin/echo_grpc.pb.go" echo_grpc.pb.go
protoc -I. -I../echodora \
  --plugin=protoc-gen-dora="$bin/protoc-gen-dora" \
  --dora_out=../echodora --dora_opt=paths=source_relative \
  ../echodora/echodora.proto
