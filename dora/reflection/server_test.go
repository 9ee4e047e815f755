package reflection_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/reflection"
	"github.com/seed857a6cbd/pocket/dora/status"
)

type echoServer struct{ echo.UnimplementedEchoServer }

// serve runs a real dora server on loopback with what register registers and returns a
// reflection client to it.
func serve(t *testing.T, register func(*dora.Server)) reflection.ReflectionClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dora.NewServer()
	register(srv)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	client, err := dora.NewClient(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Stop()
		<-done
	})
	return reflection.NewReflectionClient(client)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// files decodes a response into a registry, failing when a file is missing an import.
func files(t *testing.T, resp *reflection.FileDescriptorResponse) (*protoregistry.Files, []string) {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{}
	var paths []string
	for _, b := range resp.FileDescriptorProto {
		fdp := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fdp); err != nil {
			t.Fatal(err)
		}
		set.File = append(set.File, fdp)
		paths = append(paths, fdp.GetName())
	}
	reg, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatalf("the response's files do not resolve on their own: %v", err)
	}
	return reg, paths
}

func TestReflectionOnRealServer(t *testing.T) {
	c := serve(t, func(srv *dora.Server) {
		echo.RegisterEchoServer(srv, echoServer{})
		health.RegisterHealthServer(srv, health.NewServer())
		reflection.Register(srv)
	})
	ctx := ctxT(t)
	list, err := c.ListServices(ctx, &reflection.ListServicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dora.examples.echo.Echo", "dora.health.v1.Health", "dora.reflection.v1.Reflection"}
	if !slices.Equal(list.Services, want) {
		t.Fatalf("ListServices = %v, want %v", list.Services, want)
	}

	cases := []struct {
		name   string
		symbol string
		file   string
		code   codes.Code
	}{
		{"service", "dora.examples.echo.Echo", "echo.proto", codes.OK},
		{"method", "dora.examples.echo.Echo.Say", "echo.proto", codes.OK},
		{"method with slash", "dora.examples.echo.Echo/Count", "echo.proto", codes.OK},
		{"message", "dora.examples.echo.SayRequest", "echo.proto", codes.OK},
		{"nested enum", "dora.health.v1.HealthCheckResponse.ServingStatus", "dora/health/health.proto", codes.OK},
		{"field", "dora.examples.echo.SayRequest.text", "echo.proto", codes.OK},
		{"unknown", "no.such.Thing", "", codes.NotFound},
		{"linked but not served", "google.protobuf.FileDescriptorProto", "", codes.NotFound},
		{"not a name", "a..b", "", codes.InvalidArgument},
		{"empty", "", "", codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.FileContainingSymbol(ctx, &reflection.FileContainingSymbolRequest{Symbol: tc.symbol})
			if status.Code(err) != tc.code {
				t.Fatalf("FileContainingSymbol(%q): %v, want %v", tc.symbol, err, tc.code)
			}
			if err != nil {
				return
			}
			reg, paths := files(t, resp)
			if paths[0] != tc.file {
				t.Fatalf("first file %q, want %q", paths[0], tc.file)
			}
			if _, err := reg.FindDescriptorByName("dora.examples.echo.Echo"); tc.file == "echo.proto" && err != nil {
				t.Fatal(err)
			}
		})
	}

	resp, err := c.FileByFilename(ctx, &reflection.FileByFilenameRequest{Filename: "echo.proto"})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := files(t, resp)
	d, err := reg.FindDescriptorByName("dora.examples.echo.Echo")
	if err != nil {
		t.Fatal(err)
	}
	if n := d.(protoreflect.ServiceDescriptor).Methods().Len(); n != 4 {
		t.Fatalf("Echo has %d methods in the served descriptor, want 4", n)
	}
	for _, name := range []string{"google/protobuf/descriptor.proto", "nope.proto", ""} {
		if _, err := c.FileByFilename(ctx, &reflection.FileByFilenameRequest{Filename: name}); status.Code(err) != codes.NotFound {
			t.Fatalf("FileByFilename(%q): %v, want NotFound", name, err)
		}
	}
}

type lister []dora.ServiceInfo

func (l lister) Services() []dora.ServiceInfo { return l }

// fileProto builds a one-message (and optionally one-service) file importing deps.
func fileProto(path, pkg, msg string, deps []string, field string, svc string) *descriptorpb.FileDescriptorProto {
	m := &descriptorpb.DescriptorProto{Name: proto.String(msg)}
	if field != "" {
		m.Field = []*descriptorpb.FieldDescriptorProto{{
			Name: proto.String("f"), Number: proto.Int32(1),
			Type:     descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			TypeName: proto.String(field),
		}}
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name: proto.String(path), Package: proto.String(pkg), Syntax: proto.String("proto3"),
		Dependency: deps, MessageType: []*descriptorpb.DescriptorProto{m},
	}
	if svc != "" {
		fd.Service = []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String(svc),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name: proto.String("Get"), InputType: proto.String("." + pkg + "." + msg), OutputType: proto.String("." + pkg + "." + msg),
			}},
		}}
	}
	return fd
}

// The files a served file imports, directly or not, come with it, and only once each.
func TestTransitiveDependencies(t *testing.T) {
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		fileProto("t/leaf.proto", "t", "Leaf", nil, "", ""),
		fileProto("t/mid.proto", "t", "Mid", []string{"t/leaf.proto"}, ".t.Leaf", ""),
		fileProto("t/other.proto", "t", "Other", []string{"t/leaf.proto"}, ".t.Leaf", ""),
		fileProto("t/svc.proto", "t", "Req", []string{"t/mid.proto", "t/other.proto"}, ".t.Mid", "Svc"),
		fileProto("t/unserved.proto", "t", "Secret", nil, "", ""),
	}}
	reg, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatal(err)
	}
	services := lister{{Name: "t.Svc", Methods: []string{"/t.Svc/Get"}}, {Name: "t.Handwritten"}}
	c := serve(t, func(srv *dora.Server) {
		reflection.RegisterReflectionServer(srv, reflection.NewServerWithFiles(services, reg))
	})
	ctx := ctxT(t)
	resp, err := c.FileContainingSymbol(ctx, &reflection.FileContainingSymbolRequest{Symbol: "t.Svc"})
	if err != nil {
		t.Fatal(err)
	}
	got, paths := files(t, resp)
	slices.Sort(paths[1:])
	if want := []string{"t/svc.proto", "t/leaf.proto", "t/mid.proto", "t/other.proto"}; !slices.Equal(paths, want) {
		t.Fatalf("files %v, want %v", paths, want)
	}
	if _, err := got.FindDescriptorByName("t.Leaf"); err != nil {
		t.Fatal(err)
	}
	// An imported file is served by itself too; an unrelated one and a service without
	// a descriptor are not.
	if _, err := c.FileContainingSymbol(ctx, &reflection.FileContainingSymbolRequest{Symbol: "t.Leaf"}); err != nil {
		t.Fatal(err)
	}
	for _, sym := range []string{"t.Secret", "t.Handwritten"} {
		if _, err := c.FileContainingSymbol(ctx, &reflection.FileContainingSymbolRequest{Symbol: sym}); status.Code(err) != codes.NotFound {
			t.Fatalf("%s: %v, want NotFound", sym, err)
		}
	}
}
