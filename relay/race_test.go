//go:build race

package relay_test

// raceEnabled is true under the race detector, which slows the relay
// several times over: timing bounds are logged, not asserted.
const raceEnabled = true
