module github.com/seed857a6cbd/pocket/iip

go 1.24

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2
	go.uber.org/goleak v1.3.0
)

require github.com/google/go-cmp v0.7.0 // indirect

replace github.com/seed857a6cbd/pocket/lbclient => ../lbclient
