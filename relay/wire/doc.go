// Package wire is the relay protocol of spec/relay.md: the hellos, the
// inner transport encryption, the fixed-size blocks, the items (commands,
// replies and pushes), the error codes and the relay address format.
//
// It is pure: no I/O, no goroutines, no clock. Decoders never panic on
// input from a peer; they return an error that wraps ErrMalformed. Slices
// returned by decoders (bodies, passwords) alias the input buffer: a
// caller that keeps them past the buffer's lifetime must copy them.
package wire
