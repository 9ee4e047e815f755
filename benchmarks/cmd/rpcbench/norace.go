//go:build !race

package main

// raceBuild is false in a binary built without -race (see race.go).
const raceBuild = false
