// Package testpb holds the protobuf services dora's tests use.
package testpb

//go:generate protoc -I. --go_out=. --go_opt=paths=source_relative --dora_out=. --dora_opt=paths=source_relative test.proto
