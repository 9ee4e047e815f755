module github.com/seed857a6cbd/pocket/dora

go 1.24

require google.golang.org/protobuf v1.36.12

replace github.com/seed857a6cbd/pocket/nap => ../nap
