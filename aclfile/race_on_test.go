//go:build race

package aclfile

// raceEnabled is true under the race detector, which allocates.
const raceEnabled = true
