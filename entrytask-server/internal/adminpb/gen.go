// Package adminpb holds the generated Go code of admin.proto (protobuf package etadmin,
// service Admin): etserver's account administration, served when admin.token is set.
// Regenerate with `go generate ./...` (or `make proto` at the repository root) with protoc
// on PATH.
package adminpb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --dora_out=. --dora_opt=paths=source_relative admin.proto
