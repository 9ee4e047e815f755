// Package kvgrpc holds the gRPC service of the entry-task benchmark suite: etserver's
// kv.Store methods on etserver's own messages (entrytask-server/kvpb), generated from
// kvgrpc.proto by gen_protoc.sh (protoc with protoc-gen-go and protoc-gen-go-grpc at the
// versions benchmarks/go.mod pins; run it with `go generate` or `make proto`).
package kvgrpc

//go:generate sh gen_protoc.sh
