// Package wirepb holds the generated protobuf types of the dora wire format (Pkg and Head),
// for tests, tools and second implementations. dora itself encodes and decodes Pkg by hand on
// its hot path; the two are kept byte-compatible by dora's tests.
package wirepb

//go:generate protoc -I. --go_out=. --go_opt=paths=source_relative wire.proto
