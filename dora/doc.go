// Package dora is protobuf RPC on nap: codecs, routing, interceptors, status codes, metadata, deadlines, and the protoc-gen-dora code generator.
//
// This module is under construction; see README.md for its status.
package dora
