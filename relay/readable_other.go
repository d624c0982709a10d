//go:build !unix

package relay

// socketReadable always reports a socket readable where the relay cannot
// peek at it: the reader then waits in the WebSocket's read.
func socketReadable(uintptr) bool { return true }
