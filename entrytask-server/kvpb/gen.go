// Package kvpb holds the generated Go code of kv.proto (protobuf package kv, service Store),
// etserver's API. Regenerate with `go generate ./...` (or `make proto` at the repository
// root) with protoc and protoc-gen-go on PATH.
package kvpb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative kv.proto
