module github.com/seed857a6cbd/pocket/dora/cmd/doractl

go 1.26.0

require (
	github.com/seed857a6cbd/pocket/dora v0.3.0
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/seed857a6cbd/pocket/lbclient v0.3.0 // indirect
	github.com/seed857a6cbd/pocket/nap v0.3.0 // indirect
)
