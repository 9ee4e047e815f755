package reflection

import "google.golang.org/protobuf/reflect/protoregistry"

// NewServerWithFiles is NewServer with descriptors from files instead of GlobalFiles.
func NewServerWithFiles(services ServiceLister, files *protoregistry.Files) *Server {
	return &Server{services: services, files: files}
}
