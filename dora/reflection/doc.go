// Package reflection is dora's reflection service, dora.reflection.v1.Reflection: it lists
// the services a server serves and returns their .proto file descriptors (with every file
// they import), so that a generic client such as doractl can call any method without the
// .proto files.
//
//	srv := dora.NewServer()
//	echo.RegisterEchoServer(srv, impl)
//	reflection.Register(srv) // services registered later are listed too
//
// Descriptors come from the protobuf global registry (protoregistry.GlobalFiles), where
// protoc-gen-go's generated code registers them: a service is found by its name, else by
// its ServiceDesc's Metadata (the .proto path). Only the files of registered services and
// their transitive imports are served, not every descriptor linked into the binary. A
// service registered from a hand-written ServiceDesc with no generated descriptor is
// listed, and asking for its file fails with NotFound.
//
// Reflection describes the API: enable it where that is acceptable (an internal network,
// a debug port); etserver and the examples leave it off unless configured.
package reflection
