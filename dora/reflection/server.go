package reflection

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// ServiceLister is what the reflection service describes; *dora.Server is one.
type ServiceLister interface {
	Services() []dora.ServiceInfo
}

// Server implements ReflectionServer for the services of a ServiceLister.
type Server struct {
	UnimplementedReflectionServer
	services ServiceLister
	files    *protoregistry.Files
}

// NewServer returns a reflection service describing what services lists (read at each
// call), with descriptors from protoregistry.GlobalFiles.
func NewServer(services ServiceLister) *Server {
	return &Server{services: services, files: protoregistry.GlobalFiles}
}

// Register registers a reflection service describing srv on srv itself.
func Register(srv *dora.Server) {
	RegisterReflectionServer(srv, NewServer(srv))
}

// ListServices returns the registered services' names, sorted.
func (s *Server) ListServices(context.Context, *ListServicesRequest) (*ListServicesResponse, error) {
	infos := s.services.Services()
	names := make([]string, 0, len(infos))
	for _, si := range infos {
		names = append(names, si.Name)
	}
	slices.Sort(names)
	return &ListServicesResponse{Services: names}, nil
}

// served returns the files that may be served: those of the registered services and
// everything they import, by path.
func (s *Server) served() map[string]protoreflect.FileDescriptor {
	out := map[string]protoreflect.FileDescriptor{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if _, ok := out[fd.Path()]; ok {
			return
		}
		out[fd.Path()] = fd
		imps := fd.Imports()
		for i := range imps.Len() {
			add(imps.Get(i).FileDescriptor)
		}
	}
	for _, si := range s.services.Services() {
		if d, err := s.files.FindDescriptorByName(protoreflect.FullName(si.Name)); err == nil {
			if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
				add(sd.ParentFile())
				continue
			}
		}
		if si.Metadata != "" {
			if fd, err := s.files.FindFileByPath(si.Metadata); err == nil {
				add(fd)
			}
		}
	}
	return out
}

// FileContainingSymbol returns the file declaring in.Symbol and its imports.
func (s *Server) FileContainingSymbol(_ context.Context, in *FileContainingSymbolRequest) (*FileDescriptorResponse, error) {
	sym := strings.Replace(strings.TrimPrefix(in.GetSymbol(), "/"), "/", ".", 1)
	if !protoreflect.FullName(sym).IsValid() {
		return nil, status.Errorf(codes.InvalidArgument, "reflection: %q is not a full protobuf name", truncate(in.GetSymbol()))
	}
	served := s.served()
	d, err := s.files.FindDescriptorByName(protoreflect.FullName(sym))
	if err != nil || served[d.ParentFile().Path()] == nil {
		return nil, status.Errorf(codes.NotFound, "reflection: symbol %q not found", truncate(sym))
	}
	return s.response(d.ParentFile())
}

// FileByFilename returns the file with path in.Filename and its imports.
func (s *Server) FileByFilename(_ context.Context, in *FileByFilenameRequest) (*FileDescriptorResponse, error) {
	served := s.served()
	fd := served[in.GetFilename()]
	if fd == nil {
		return nil, status.Errorf(codes.NotFound, "reflection: file %q not found", truncate(in.GetFilename()))
	}
	return s.response(fd)
}

// response encodes fd and then its transitive imports, each once.
func (s *Server) response(fd protoreflect.FileDescriptor) (*FileDescriptorResponse, error) {
	resp := &FileDescriptorResponse{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor) error
	add = func(fd protoreflect.FileDescriptor) error {
		if seen[fd.Path()] {
			return nil
		}
		seen[fd.Path()] = true
		b, err := proto.Marshal(protodesc.ToFileDescriptorProto(fd))
		if err != nil {
			return status.Errorf(codes.Internal, "reflection: encode %s: %v", fd.Path(), err)
		}
		resp.FileDescriptorProto = append(resp.FileDescriptorProto, b)
		imps := fd.Imports()
		for i := range imps.Len() {
			if err := add(imps.Get(i).FileDescriptor); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(fd); err != nil {
		return nil, err
	}
	return resp, nil
}

// maxEcho is how much of a peer's bad name an error message repeats.
const maxEcho = 200

func truncate(s string) string {
	if len(s) > maxEcho {
		return s[:maxEcho] + "..."
	}
	return s
}
