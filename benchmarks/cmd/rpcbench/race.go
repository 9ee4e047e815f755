//go:build race

package main

// raceBuild is true in a binary built with -race: its node binaries are built with -race
// too (a test run of rpcbench then reuses the race-built packages of its test binary).
const raceBuild = true
