module github.com/seed857a6cbd/pocket/dora/cmd/protoc-gen-dora

go 1.26.0

require google.golang.org/protobuf v1.36.12
