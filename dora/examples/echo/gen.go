// Package echo is the example service of dora: echo.proto, its protoc-gen-go and
// protoc-gen-dora output. The README and the examples use it.
package echo

//go:generate protoc -I. --go_out=. --go_opt=paths=source_relative --dora_out=. --dora_opt=paths=source_relative echo.proto
