module github.com/seed857a6cbd/pocket/lbclient

go 1.26.0

require go.uber.org/goleak v1.3.0
