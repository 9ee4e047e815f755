package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/reflection"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// source finds services and descriptors: the server's reflection service or descriptor
// set files.
type source interface {
	services(ctx context.Context) ([]string, error)
	// find returns the descriptor of a full name and the files that declare it and its
	// dependencies.
	find(ctx context.Context, name string) (protoreflect.Descriptor, *protoregistry.Files, error)
}

func newSource(o *options, client *dora.Client) (source, error) {
	if len(o.protosets) == 0 {
		return &reflectionSource{rc: reflection.NewReflectionClient(client)}, nil
	}
	var fds []*descriptorpb.FileDescriptorProto
	for _, p := range o.protosets {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--protoset: %w", err)
		}
		one := &descriptorpb.FileDescriptorSet{}
		if err := proto.Unmarshal(b, one); err != nil {
			return nil, fmt.Errorf("--protoset %s: not a descriptor set: %w", p, err)
		}
		fds = append(fds, one.File...)
	}
	files, err := newFiles(fds)
	if err != nil {
		return nil, fmt.Errorf("--protoset: %w (was it written with --include_imports?)", err)
	}
	return &protosetSource{files: files}, nil
}

// newFiles builds a registry from files, each path once.
func newFiles(fds []*descriptorpb.FileDescriptorProto) (*protoregistry.Files, error) {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	for _, fd := range fds {
		if !seen[fd.GetName()] {
			seen[fd.GetName()] = true
			set.File = append(set.File, fd)
		}
	}
	return protodesc.NewFiles(set)
}

type protosetSource struct{ files *protoregistry.Files }

func (s *protosetSource) services(context.Context) ([]string, error) {
	var names []string
	s.files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			names = append(names, string(fd.Services().Get(i).FullName()))
		}
		return true
	})
	slices.Sort(names)
	return names, nil
}

func (s *protosetSource) find(_ context.Context, name string) (protoreflect.Descriptor, *protoregistry.Files, error) {
	d, err := s.files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not in the --protoset files", name)
	}
	return d, s.files, nil
}

type reflectionSource struct{ rc reflection.ReflectionClient }

// errNoReflection explains an Unimplemented answer from a server without reflection.
var errNoReflection = errors.New("the server has no reflection service (dora/reflection); give --protoset FILE")

func (s *reflectionSource) services(ctx context.Context) ([]string, error) {
	resp, err := s.rc.ListServices(ctx, &reflection.ListServicesRequest{})
	if err != nil {
		return nil, reflectionErr(err)
	}
	return resp.Services, nil
}

func (s *reflectionSource) find(ctx context.Context, name string) (protoreflect.Descriptor, *protoregistry.Files, error) {
	resp, err := s.rc.FileContainingSymbol(ctx, &reflection.FileContainingSymbolRequest{Symbol: name})
	if err != nil {
		return nil, nil, reflectionErr(err)
	}
	fds := make([]*descriptorpb.FileDescriptorProto, 0, len(resp.FileDescriptorProto))
	for _, b := range resp.FileDescriptorProto {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fd); err != nil {
			return nil, nil, fmt.Errorf("reflection answered a bad descriptor: %w", err)
		}
		fds = append(fds, fd)
	}
	files, err := newFiles(fds)
	if err != nil {
		return nil, nil, fmt.Errorf("reflection answered unusable descriptors: %w", err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not in the descriptors reflection returned", name)
	}
	return d, files, nil
}

func reflectionErr(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w (%w)", errNoReflection, err)
	}
	return err
}

// splitMethod turns "pkg.Service/Method", "/pkg.Service/Method" or "pkg.Service.Method"
// into the full method name on the wire and the descriptor's full name.
func splitMethod(s string) (wire string, full string, err error) {
	s = strings.TrimPrefix(s, "/")
	svc, m, ok := strings.Cut(s, "/")
	if !ok {
		i := strings.LastIndexByte(s, '.')
		if i <= 0 {
			return "", "", fmt.Errorf("%q: want pkg.Service/Method", s)
		}
		svc, m = s[:i], s[i+1:]
	}
	if svc == "" || m == "" || strings.Contains(m, "/") {
		return "", "", fmt.Errorf("%q: want pkg.Service/Method", s)
	}
	return "/" + svc + "/" + m, svc + "." + m, nil
}
