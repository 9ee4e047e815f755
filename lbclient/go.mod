module github.com/seed857a6cbd/pocket/lbclient

go 1.24
