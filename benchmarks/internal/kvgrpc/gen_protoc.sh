#!/bin/sh
# Regenerates kvgrpc.pb.go and kvgrpc_grpc.pb.go from kvgrpc.proto, which imports
# etserver's kv.proto from ../../../entrytask-server/kvpb (its messages are reused, not
# copied). The protoc plugins are built from the versions benchmarks/go.mod pins (its tool
# directives), with GOWORK=off, so a fresh generation equals the committed code whatever
# plugins are on PATH. Needs protoc 3.21.12 (the version named in the committed headers).
set -eu
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOWORK=off go build -o "$bin/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
protoc -I. -I../../../entrytask-server/kvpb \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  kvgrpc.proto
