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
//
// Install it at a release with
//
//	go install github.com/seed857a6cbd/pocket/dora/cmd/protoc-gen-dora@latest
//
// `protoc-gen-dora --version` prints the module version it was built at (from the
// binary's build information), the VCS revision when the build recorded one, and the Go
// version. Generated files name the version in their header; a binary built from a
// checkout rather than a released version writes "(devel)" there, so that regenerating
// in the repository does not change every file at every commit.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"
)

// develVersion stands for any build that is not a released version.
const develVersion = "(devel)"

// buildVersion returns the version of the module the binary was built from, as the go
// command recorded it ("v0.2.0" for `go install …@v0.2.0`), and the VCS revision when the
// build stamped one.
func buildVersion() (version, revision string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return develVersion, ""
	}
	version = info.Main.Version
	if r := info.Main.Replace; r != nil {
		// Built as a dependency that a replace line points elsewhere (the benchmarks
		// module builds it so): the replacement is what runs.
		version = r.Version
	}
	if version == "" {
		version = develVersion
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return version, revision
}

// headerVersion is the version written into generated files: a release version as is,
// "(devel)" for builds from a checkout (pseudo-versions, "+dirty" or no version).
func headerVersion(v string) string {
	if v == "" || strings.ContainsAny(v, "+(") || isPseudo(v) {
		return develVersion
	}
	return v
}

// isPseudo reports whether v has the form of a Go pseudo-version
// (vX.Y.Z-[pre.]yyyymmddhhmmss-abcdefabcdef).
func isPseudo(v string) bool {
	i := strings.LastIndexByte(v, '-')
	if i < 0 || len(v)-i-1 != 12 {
		return false
	}
	rest := v[:i]
	j := strings.LastIndexAny(rest, "-.")
	return j >= 0 && len(rest)-j-1 == 14
}

func main() {
	version, revision := buildVersion()
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Printf("protoc-gen-dora %s", version)
		if revision != "" {
			fmt.Printf(" (revision %s)", revision)
		}
		fmt.Printf(" %s\n", runtime.Version())
		return
	}
	if len(os.Args) == 2 && (os.Args[1] == "--help" || os.Args[1] == "-h") {
		fmt.Println("protoc-gen-dora: a protoc plugin generating dora service code; protoc runs it.")
		fmt.Println("usage: protoc --go_out=. --dora_out=. [--dora_opt=paths=source_relative] file.proto")
		fmt.Println("       protoc-gen-dora --version")
		return
	}
	header := headerVersion(version)
	var flags flag.FlagSet
	protogen.Options{ParamFunc: flags.Set}.Run(func(gen *protogen.Plugin) error {
		gen.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
		for _, f := range gen.Files {
			if f.Generate {
				generateFile(gen, f, header)
			}
		}
		return nil
	})
}
