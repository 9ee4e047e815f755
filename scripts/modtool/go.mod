module github.com/seed857a6cbd/pocket/scripts/modtool

go 1.26.0

require golang.org/x/mod v0.43.0
