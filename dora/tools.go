//go:build tools

package dora

// Pins protoc-gen-go in go.mod so scripts/proto.sh installs the version this module uses.
import _ "google.golang.org/protobuf/cmd/protoc-gen-go"
