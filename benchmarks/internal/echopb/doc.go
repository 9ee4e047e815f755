// Package echopb holds the protobuf messages and the gRPC service of the echo benchmark,
// generated from echo.proto by gen_protoc.sh (run it with `go generate` or `make proto`).
package echopb

//go:generate sh gen_protoc.sh
