package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"google.golang.org/protobuf/types/pluginpb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// request builds the CodeGeneratorRequest protoc would send for the last file of the
// descriptor set testdata/<set>.protoset (dependencies first, protoc's order); only that
// file is generated. The sets are fixtures made from dora's own .proto files with
//
//	protoc -I dora/examples/echo --include_imports --include_source_info \
//	    --descriptor_set_out=testdata/echo.protoset echo.proto
//
// (and the same for dora/internal/testpb/test.proto); remake them when those files change.
func request(t *testing.T, set, param string) *pluginpb.CodeGeneratorRequest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", set+".protoset"))
	if err != nil {
		t.Fatal(err)
	}
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &fds); err != nil {
		t.Fatalf("%s.protoset: %v", set, err)
	}
	files := fds.GetFile()
	return &pluginpb.CodeGeneratorRequest{
		FileToGenerate:  []string{files[len(files)-1].GetName()},
		Parameter:       proto.String(param),
		ProtoFile:       files,
		CompilerVersion: &pluginpb.Version{Major: proto.Int32(3), Minor: proto.Int32(21), Patch: proto.Int32(12)},
	}
}

func run(t *testing.T, req *pluginpb.CodeGeneratorRequest) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gen.Files {
		if f.Generate {
			generateFile(gen, f, "(devel)")
		}
	}
	resp := gen.Response()
	if resp.Error != nil {
		t.Fatalf("plugin error: %s", resp.GetError())
	}
	return resp
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		set    string
		golden string
	}{
		{"echo", "echo", "echo_dora.pb.go.golden"},
		{"testpb with deprecated method", "test", "test_dora.pb.go.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := run(t, request(t, tt.set, "paths=source_relative"))
			if len(resp.File) != 1 {
				t.Fatalf("got %d files, want 1", len(resp.File))
			}
			got := []byte(resp.File[0].GetContent())
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s (run go test -update after checking):\n%s", path, got)
			}
		})
	}
}

// importsRequest is a hand-made file whose service uses messages of another package, so the
// generated code must import and qualify them.
func importsRequest() *pluginpb.CodeGeneratorRequest {
	wkt := protodesc.ToFileDescriptorProto(wrapperspb.File_google_protobuf_wrappers_proto)
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("clock/clock.proto"),
		Package:    proto.String("clock"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{wkt.GetName()},
		Options:    &descriptorpb.FileOptions{GoPackage: proto.String("example.com/clock;clock")},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Clock"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: proto.String("Now"), InputType: proto.String(".google.protobuf.StringValue"), OutputType: proto.String(".google.protobuf.Int64Value")},
				{Name: proto.String("Ticks"), InputType: proto.String(".google.protobuf.Int64Value"), OutputType: proto.String(".google.protobuf.Int64Value"), ServerStreaming: proto.Bool(true)},
			},
		}},
	}
	return &pluginpb.CodeGeneratorRequest{
		FileToGenerate:  []string{"clock/clock.proto"},
		Parameter:       proto.String("paths=source_relative"),
		ProtoFile:       []*descriptorpb.FileDescriptorProto{wkt, fdp},
		CompilerVersion: &pluginpb.Version{Major: proto.Int32(3), Minor: proto.Int32(21), Patch: proto.Int32(12)},
	}
}

func TestGoldenImports(t *testing.T) {
	resp := run(t, importsRequest())
	if len(resp.File) != 1 || resp.File[0].GetName() != "clock/clock_dora.pb.go" {
		t.Fatalf("files = %v", resp.File)
	}
	got := []byte(resp.File[0].GetContent())
	path := filepath.Join("testdata", "clock_dora.pb.go.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n%s", path, got)
	}
	if !bytes.Contains(got, []byte(`wrapperspb "google.golang.org/protobuf/types/known/wrapperspb"`)) ||
		!bytes.Contains(got, []byte("*wrapperspb.StringValue")) {
		t.Fatal("other-package messages are not imported and qualified")
	}
}

func TestFileName(t *testing.T) {
	resp := run(t, request(t, "echo", "paths=source_relative"))
	if got := resp.File[0].GetName(); got != "echo_dora.pb.go" {
		t.Fatalf("file name %q, want echo_dora.pb.go", got)
	}
	resp = run(t, request(t, "echo", ""))
	if got, want := resp.File[0].GetName(), "github.com/seed857a6cbd/pocket/dora/examples/echo/echo_dora.pb.go"; got != want {
		t.Fatalf("file name %q, want %q", got, want)
	}
}

func TestNoServiceNoFile(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("plain.proto"),
		Package: proto.String("plain"),
		Syntax:  proto.String("proto3"),
		Options: &descriptorpb.FileOptions{GoPackage: proto.String("example.com/plain")},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("M"),
		}},
	}
	resp := run(t, &pluginpb.CodeGeneratorRequest{FileToGenerate: []string{"plain.proto"}, ProtoFile: []*descriptorpb.FileDescriptorProto{fdp}})
	if len(resp.File) != 0 {
		t.Fatalf("generated %d files for a file without services", len(resp.File))
	}
}
