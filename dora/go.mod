module github.com/seed857a6cbd/pocket/dora

go 1.24

require (
	github.com/seed857a6cbd/pocket/nap v0.0.0-00010101000000-000000000000
)

replace (
	github.com/seed857a6cbd/pocket/nap => ../nap
)
