module github.com/seed857a6cbd/pocket/examples

go 1.26.0

require (
	github.com/schollz/progressbar/v3 v3.19.1
	github.com/seed857a6cbd/pocket/dora v0.3.0
	github.com/seed857a6cbd/pocket/httpadapter v0.3.0
	github.com/seed857a6cbd/pocket/iip v0.3.0
	github.com/urfave/cli/v2 v2.27.7
	go.uber.org/goleak v1.3.0
	golang.org/x/term v0.47.0
	golang.org/x/time v0.16.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/seed857a6cbd/pocket/lbclient v0.3.0 // indirect
	github.com/seed857a6cbd/pocket/nap v0.3.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/seed857a6cbd/pocket/dora => ../dora
	github.com/seed857a6cbd/pocket/httpadapter => ../httpadapter
	github.com/seed857a6cbd/pocket/iip => ../iip
	github.com/seed857a6cbd/pocket/lbclient => ../lbclient
	github.com/seed857a6cbd/pocket/nap => ../nap
)
