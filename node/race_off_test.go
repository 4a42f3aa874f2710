//go:build !race

package node

// raceEnabled is set when the race detector, which slows everything down
// several times, is on.
const raceEnabled = false
