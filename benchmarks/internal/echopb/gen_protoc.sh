#!/bin/sh
# Regenerates echo.pb.go and echo_grpc.pb.go from echo.proto. The protoc plugins are built
# from the versions benchmarks/go.mod pins (its tool directives), with GOWORK=off, so a fresh
# generation equals the committed code whatever protoc-gen-go is on PATH. Needs protoc 3.21.12
# (the version named in the committed headers).
set -eu
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOWORK=off go build -o "$bin/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
protoc \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  echo.proto
