module github.com/seed857a6cbd/pocket/dora/otel

go 1.26.0

require (
	github.com/seed857a6cbd/pocket/dora v0.3.0
	github.com/seed857a6cbd/pocket/httpadapter v0.3.0
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/metric v1.47.0
	go.opentelemetry.io/otel/sdk v1.47.0
	go.opentelemetry.io/otel/sdk/metric v1.47.0
	go.opentelemetry.io/otel/trace v1.47.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/seed857a6cbd/pocket/iip v0.3.0 // indirect
	github.com/seed857a6cbd/pocket/lbclient v0.3.0 // indirect
	github.com/seed857a6cbd/pocket/nap v0.3.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/seed857a6cbd/pocket/dora => ../
	github.com/seed857a6cbd/pocket/httpadapter => ../../httpadapter
	github.com/seed857a6cbd/pocket/iip => ../../iip
	github.com/seed857a6cbd/pocket/lbclient => ../../lbclient
	github.com/seed857a6cbd/pocket/nap => ../../nap
)
