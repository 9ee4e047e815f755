module github.com/seed857a6cbd/pocket/benchmarks

go 1.26.0

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/hashicorp/yamux v0.1.2
	github.com/lesismal/arpc v1.2.4
	github.com/xtaci/smux v1.5.56
	go.uber.org/goleak v1.3.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2 // indirect
)

replace (
	github.com/seed857a6cbd/pocket/dora => ../dora
	github.com/seed857a6cbd/pocket/entrytask-server => ../entrytask-server
	github.com/seed857a6cbd/pocket/httpadapter => ../httpadapter
	github.com/seed857a6cbd/pocket/iip => ../iip
	github.com/seed857a6cbd/pocket/lbclient => ../lbclient
	github.com/seed857a6cbd/pocket/nap => ../nap
)

tool (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)
