// Command protoc-gen-dora is a protoc plugin generating dora service code: for each service
// in a .proto file a client interface and constructor, a server interface, an
// Unimplemented<Service>Server to embed, a Register<Service>Server function, the full method
// name constants and the service descriptor, in <file>_dora.pb.go next to protoc-gen-go's
// <file>.pb.go.
//
// Usage:
//
//	protoc -I. --go_out=. --go_opt=paths=source_relative \
//	    --dora_out=. --dora_opt=paths=source_relative echo.proto
//
// Options are protoc-gen-go's (paths=, M...=, module=).
package main

import (
	"flag"
	"fmt"
	"os"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"
)

// version is printed by --version and written into every generated file's header.
const version = "v0.1.0"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Printf("protoc-gen-dora %s\n", version)
		return
	}
	var flags flag.FlagSet
	protogen.Options{ParamFunc: flags.Set}.Run(func(gen *protogen.Plugin) error {
		gen.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
		for _, f := range gen.Files {
			if f.Generate {
				generateFile(gen, f)
			}
		}
		return nil
	})
}
