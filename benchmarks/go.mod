module github.com/seed857a6cbd/pocket/benchmarks

go 1.24.0

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/hashicorp/yamux v0.1.2
	github.com/lesismal/arpc v1.2.4
	github.com/seed857a6cbd/pocket/dora v0.0.0-00010101000000-000000000000
	github.com/seed857a6cbd/pocket/iip v0.0.0-00010101000000-000000000000
	github.com/seed857a6cbd/pocket/nap v0.0.0-00010101000000-000000000000
	github.com/urfave/cli/v2 v2.27.7
	github.com/xtaci/smux v1.5.56
	go.uber.org/goleak v1.3.0
	gonum.org/v1/plot v0.17.0
	google.golang.org/grpc v1.80.0
	google.golang.org/protobuf v1.36.12
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/seed857a6cbd/pocket/lbclient v0.0.0-00010101000000-000000000000 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/net v0.49.0 // indirect
	golang.org/x/sys v0.40.0 // indirect
	golang.org/x/text v0.33.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260120221211-b8f7ae30c516 // indirect
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.1 // indirect
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
	github.com/seed857a6cbd/pocket/dora/cmd/protoc-gen-dora
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)
