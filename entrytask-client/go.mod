module github.com/seed857a6cbd/pocket/entrytask-client

go 1.24

require (
	github.com/seed857a6cbd/pocket/nap v0.0.0-00010101000000-000000000000
	github.com/seed857a6cbd/pocket/dora v0.0.0-00010101000000-000000000000
	github.com/seed857a6cbd/pocket/lbclient v0.0.0-00010101000000-000000000000
	github.com/seed857a6cbd/pocket/entrytask-server v0.0.0-00010101000000-000000000000
)

replace (
	github.com/seed857a6cbd/pocket/nap => ../nap
	github.com/seed857a6cbd/pocket/dora => ../dora
	github.com/seed857a6cbd/pocket/lbclient => ../lbclient
	github.com/seed857a6cbd/pocket/entrytask-server => ../entrytask-server
)
