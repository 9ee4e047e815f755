//go:build race

package iip

// matrixUnderRace leaves the 64 MiB case out of the compatibility matrix
// under the race detector, which makes it take 8 s or more.
const matrixUnderRace = true
