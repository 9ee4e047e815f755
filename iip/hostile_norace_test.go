//go:build !race

package iip

// raceEnabled scales the heaviest hostile tests down under the race
// detector, which makes every copy of the attack's bytes many times dearer.
const raceEnabled = false
