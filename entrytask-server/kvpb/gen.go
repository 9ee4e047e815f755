// Package kvpb holds the generated Go code of kv.proto (protobuf package kv, service Store),
// etserver's API, and the session's metadata keys (MDToken, MDUsername, MDRetryAfterMs): the
// one public contract of entrytask-server, a module of its own that requires only dora and
// protobuf. Regenerate with `go generate ./...` (or `make proto` at the repository
// root, which builds protoc-gen-go and protoc-gen-dora into bin/) with protoc on PATH.
package kvpb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --dora_out=. --dora_opt=paths=source_relative kv.proto
