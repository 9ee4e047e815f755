module github.com/seed857a6cbd/pocket/nap

go 1.24
